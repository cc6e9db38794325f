"""Schemathesis against /openapi.json on a real uvicorn, about credentials: without a token
(none, or one it generates) every operation is refused with nothing but the refusal, and with
a real token every operation still refuses the same request made without it or with a bad one.

tests/security/test_schemathesis.py runs every phase with a real token for server errors;
these runs are about who gets an answer at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

from newsletter.api_tokens import create_token
from newsletter.db import session_scope
from tests.web.server import uvicorn_server

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
OPERATIONS = 10


def schemathesis(base_url: str, tmp_path: Path, *options: str) -> ElementTree.Element:
    """Run schemathesis; returns its JUnit report once it has passed."""
    report = tmp_path / "junit.xml"
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{base_url}/openapi.json",
            *options,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "10",
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--no-color",
            "--report",
            "junit",
            "--report-junit-path",
            str(report),
        ],
        cwd=tmp_path,  # its cache (.schemathesis/) stays out of the working tree
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SCHEMATHESIS_HOOKS": "tests.security.schemathesis_checks",
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    suite = ElementTree.parse(report).getroot()
    assert len(suite.findall(".//testcase")) >= OPERATIONS  # every operation was exercised
    return suite


def test_without_a_token_every_operation_is_refused_and_returns_nothing(
    db_url: str, tmp_path: Path
) -> None:
    with uvicorn_server(tmp_path / "uvicorn.log") as base_url:
        schemathesis(base_url, tmp_path, "--checks", "not_a_server_error,refused_without_a_token")


def test_with_a_token_each_operation_still_refuses_the_same_request_without_it(
    db_url: str, tmp_path: Path
) -> None:
    with session_scope(db_url) as session:
        _, token = create_token(session, "schemathesis", actor="test")

    with uvicorn_server(tmp_path / "uvicorn.log") as base_url:
        schemathesis(
            base_url,
            tmp_path,
            "--header",
            f"Authorization: Bearer {token}",
            "--generation-with-security-parameters",
            "false",
            "--checks",
            "ignored_auth",
        )

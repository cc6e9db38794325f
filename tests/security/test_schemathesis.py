"""Schemathesis against the API's /openapi.json on a real uvicorn: no request gets a 5xx.

The schemathesis command runs every phase (examples, coverage of boundary values, fuzzing,
stateful sequences) with valid and invalid data, sending a real API token, on SQLite and on
PostgreSQL. The server's log must hold no traceback afterwards.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

from newsletter.api_tokens import create_token
from newsletter.db import session_scope
from tests.web.server import uvicorn_server

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


def test_no_api_request_gets_a_server_error(db_url: str, tmp_path: Path) -> None:
    with session_scope(db_url) as session:
        _, token = create_token(session, "schemathesis", actor="test")
    report = tmp_path / "junit.xml"

    with uvicorn_server(tmp_path / "uvicorn.log") as base_url:
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                f"{base_url}/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--generation-with-security-parameters",
                "false",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "25",
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
            capture_output=True,
            text=True,
            timeout=600,
        )

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    suite = ElementTree.parse(report).getroot()
    cases = suite.findall(".//testcase")
    assert len(cases) >= 9  # every API operation was exercised
    assert not suite.findall(".//failure") and not suite.findall(".//error")
    log = (tmp_path / "uvicorn.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]

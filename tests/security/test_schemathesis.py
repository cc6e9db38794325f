"""Schemathesis against the API's /openapi.json on a real uvicorn: no request gets a 5xx.

The schemathesis command runs every phase (examples, coverage of boundary values, fuzzing,
stateful sequences) with valid and invalid data, sending a real API token, on SQLite and on
PostgreSQL. The server's log must hold no traceback afterwards.
"""

from __future__ import annotations

import sys
from pathlib import Path

from newsletter.api_tokens import create_token
from newsletter.db import session_scope
from tests.security.schemathesis_run import run_schemathesis
from tests.web.server import uvicorn_server

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


def test_no_api_request_gets_a_server_error(db_url: str, tmp_path: Path) -> None:
    with session_scope(db_url) as session:
        _, token = create_token(session, "schemathesis", actor="test")
    with uvicorn_server(tmp_path / "uvicorn.log") as base_url:
        run_schemathesis(
            base_url,
            tmp_path,
            "--header",
            f"Authorization: Bearer {token}",
            "--generation-with-security-parameters",
            "false",
            "--checks",
            "not_a_server_error",
            max_examples=25,
        )

    log = (tmp_path / "uvicorn.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]

"""Schemathesis against /openapi.json on a real uvicorn, about credentials: without a token
(none, or one it generates) every operation is refused with nothing but the refusal, and with
a real token every operation still refuses the same request made without it or with a bad one.

tests/security/test_schemathesis.py runs every phase with a real token for server errors;
these runs are about who gets an answer at all.
"""

from __future__ import annotations

from pathlib import Path

from newsletter.api_tokens import create_token
from newsletter.db import session_scope
from tests.security.schemathesis_run import run_schemathesis
from tests.web.server import uvicorn_server

PHASES = ("--phases", "examples,coverage,fuzzing")


def test_without_a_token_every_operation_is_refused_and_returns_nothing(
    db_url: str, tmp_path: Path
) -> None:
    with uvicorn_server(tmp_path / "uvicorn.log") as base_url:
        run_schemathesis(
            base_url, tmp_path, *PHASES, "--checks", "not_a_server_error,refused_without_a_token"
        )


def test_with_a_token_each_operation_still_refuses_the_same_request_without_it(
    db_url: str, tmp_path: Path
) -> None:
    with session_scope(db_url) as session:
        _, token = create_token(session, "schemathesis", actor="test")

    with uvicorn_server(tmp_path / "uvicorn.log") as base_url:
        run_schemathesis(
            base_url,
            tmp_path,
            *PHASES,
            "--header",
            f"Authorization: Bearer {token}",
            "--generation-with-security-parameters",
            "false",
            "--checks",
            "ignored_auth",
        )

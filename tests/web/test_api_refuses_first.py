"""The API refuses an anonymous caller before it says anything about the request body."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from newsletter.api_tokens import create_token
from newsletter.db import session_scope


@pytest.mark.parametrize("body", [b"A", b"{", b'{"email": 5}', b"[]"])
def test_a_bad_body_without_a_token_gets_401_not_a_validation_error(
    client: TestClient, body: bytes
) -> None:
    answer = client.put(
        "/api/v1/members", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert "json" not in answer.text.lower()


def test_a_bad_body_with_a_token_is_explained(client: TestClient, db_url: str) -> None:
    with session_scope(db_url) as session:
        _, token = create_token(session, "test", actor="test")
    answer = client.put(
        "/api/v1/members",
        content=b"A",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 422
    assert "JSON decode error" in answer.text

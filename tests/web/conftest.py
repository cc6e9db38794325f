"""Fixtures for the web app: a TestClient on a fresh database, staff users, captured emails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from newsletter.db import session_scope
from newsletter.delivery.backends.memory import clear
from newsletter.inline import inline
from newsletter.models import StaffRole
from newsletter.staff import create_staff
from newsletter.web.app import create_app
from tests.web.helpers import csrf_of

PASSWORD = "correct horse battery staple"


def inline_app(app: ASGIApp) -> ASGIApp:
    """The app, doing inside each request what it would queue for a worker
    (newsletter.inline): members' emails reach the memory backend before the TestClient call
    returns, sent after the response as the web app hands them over."""

    async def app_inline(scope: Scope, receive: Receive, send: Send) -> None:
        with inline():
            await app(scope, receive, send)

    return app_inline


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    clear()
    with TestClient(inline_app(create_app()), base_url="http://localhost:8000") as test_client:
        yield test_client
    clear()


def make_staff(db_url: str, email: str, role: StaffRole) -> None:
    with session_scope(db_url) as session:
        create_staff(session, email, PASSWORD, role, actor="test")


def signed_in(client: TestClient, email: str) -> TestClient:
    page = client.get("/staff/login")
    response = client.post(
        "/staff/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
def admin(client: TestClient, db_url: str) -> TestClient:
    make_staff(db_url, "admin@example.org", StaffRole.ADMIN)
    return signed_in(client, "admin@example.org")


@pytest.fixture
def comms(client: TestClient, db_url: str) -> TestClient:
    make_staff(db_url, "comms@example.org", StaffRole.COMMS)
    return signed_in(client, "comms@example.org")

"""The web app's fixtures (a TestClient on a fresh database, signed-in comms and admin staff),
shared with tests/web rather than written twice; and a browser whose queued work is done
at once in this process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from newsletter.delivery.backends.memory import clear
from newsletter.inline import inline
from newsletter.web.app import create_app
from tests.web.conftest import admin, client, comms  # noqa: F401


@pytest.fixture
def staff_browser(db_url: str) -> Iterator[TestClient]:
    """A browser on the app as `newsletter serve` runs it, doing the work it would queue for
    a worker in this process (newsletter.inline), so the email is in the outbox at once."""

    app = create_app()

    async def inline_app(scope, receive, send):  # type: ignore[no-untyped-def]
        with inline():
            await app(scope, receive, send)

    clear()
    with TestClient(inline_app, base_url="http://localhost:8000") as browser:
        yield browser
    clear()

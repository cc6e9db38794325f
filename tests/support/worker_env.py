"""The settings a test shares with a real Celery worker: a copy of the PostgreSQL template
database, Redis, and the SMTP server the using module defines as its `smtp` fixture; and a
session on that database (imported by the modules that want it, as it replaces the usual one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from newsletter import db
from newsletter.config import get_settings
from newsletter.db import session_scope
from tests.conftest import _postgres_copy
from tests.support.servers import PostgresServer, RedisServer
from tests.support.smtp_server import SmtpTestServer


@pytest.fixture
def pg_url(
    postgres: PostgresServer, postgres_template: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    url = _postgres_copy(postgres, postgres_template)
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    db.get_engine(url).dispose()


@pytest.fixture
def env(
    pg_url: str, redis: RedisServer, smtp: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Settings shared by this process and the worker: PostgreSQL, Redis, the SMTP server."""
    values = {
        "NEWSLETTER_DATABASE_URL": pg_url,
        "NEWSLETTER_BROKER_URL": redis.url,
        "NEWSLETTER_RETRY_BASE_SECONDS": "0",
        "NEWSLETTER_SCHEDULE_CHECK_SECONDS": "1",
        **smtp.env(),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return values


@pytest.fixture
def session(pg_url: str) -> Iterator[Session]:
    with session_scope(pg_url) as session:
        yield session

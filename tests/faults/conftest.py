"""Fixtures for the fault scenarios: a fresh PostgreSQL database, a Redis database of its own,
the recording SMTP server, and the settings every process of a scenario shares.

At the end of the run the figures of every scenario are printed in one block (by
tests/conftest.py, from each test's report, so it works across pytest-xdist workers), so that
they show in the `make test` log whether or not pytest captured the tests' output.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_client

from newsletter import db
from newsletter.config import get_settings
from tests.conftest import _postgres_copy
from tests.faults.chaos import Chaos
from tests.faults.figures import UNREPORTED
from tests.faults.smtp import RecordingSmtpServer
from tests.support.servers import PostgresServer, RedisServer

SECRET_KEY = "faults-secret-key-" + "x" * 40
_redis_databases = itertools.count(3)  # 0 is everyone else's


@pytest.fixture
def pg_url(postgres: PostgresServer, postgres_template: str) -> Iterator[str]:
    url = _postgres_copy(postgres, postgres_template)
    yield url
    db.get_engine(url).dispose()


@pytest.fixture
def broker_url(redis: RedisServer) -> str:
    url = f"redis://127.0.0.1:{redis.port}/{next(_redis_databases) % 16}"
    redis_client.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def smtp() -> Iterator[RecordingSmtpServer]:
    server = RecordingSmtpServer()
    with server:
        yield server


@pytest.fixture
def env(
    pg_url: str,
    broker_url: str,
    smtp: RecordingSmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """Settings for this process and every worker, beat and web server of the scenario."""
    values = {
        "NEWSLETTER_DATABASE_URL": pg_url,
        "NEWSLETTER_BROKER_URL": broker_url,
        "NEWSLETTER_VAR_DIR": str(tmp_path / "var"),
        "NEWSLETTER_SECRET_KEY": SECRET_KEY,
        "NEWSLETTER_BATCH_SIZE": "100",
        "NEWSLETTER_SMTP_TIMEOUT": "10",
        # Retries at once (the sweep decides when), and recovery after seconds, not minutes.
        # A live worker renews its claims (ADR 0015), so only a dead or silent one loses its
        # rows after 20 s (10 s was shorter than a worker's stalls on a machine at load 17).
        # Queued rows wait 30 s before they are queued again: on a loaded machine the queue
        # itself can take longer than 10 s, and each re-queue adds a task.
        "NEWSLETTER_RETRY_BASE_SECONDS": "0",
        "NEWSLETTER_SENDING_TIMEOUT_SECONDS": "20",
        "NEWSLETTER_REQUEUE_PENDING_AFTER_SECONDS": "30",
        # A fan-out killed half way is resumed 20 s after its last chunk; one that is only
        # slow and resumed meanwhile costs work twice, not emails (ADR 0023).
        "NEWSLETTER_FANOUT_STALLED_SECONDS": "20",
        **smtp.env(),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return values


@pytest.fixture
def chaos(request: pytest.FixtureRequest) -> Chaos:
    """This run's fault timing: fixed, or drawn from SOAK_SEED under `make soak`."""
    return Chaos.for_test(request.node.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if UNREPORTED:
        report.user_properties.append(("reliability", [f.line() for f in UNREPORTED]))
        UNREPORTED.clear()

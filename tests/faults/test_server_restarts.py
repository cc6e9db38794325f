"""Scenario 3: Redis, then PostgreSQL, restarted in the middle of a 5,000-member send."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from newsletter.config import get_settings
from newsletter.db import session_scope
from tests.faults.crowd import add_crowd
from tests.faults.figures import count, report
from tests.faults.sends import ledger, publish_breaking, unsent, wait_until_finished
from tests.faults.smtp import RecordingSmtpServer
from tests.faults.sweeper import sweeping
from tests.integration.test_worker import wait_until_idle
from tests.support.servers import PostgresServer, RedisServer
from tests.support.worker import celery_worker

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.redis]

MEMBERS = 5000
DOWN_SECONDS = 3


def send_through_a_restart(
    server: PostgresServer | RedisServer,
    scenario: str,
    env: dict[str, str],
    smtp: RecordingSmtpServer,
    tmp_path: Path,
) -> None:
    """Stop the server once 30% of the send is out, start it again a few seconds later."""
    with session_scope() as session:
        members = add_crowd(session, MEMBERS, {"funding": "immediate"})

    with sweeping() as failed_sweeps, celery_worker(env, tmp_path / "worker.log"):
        send = publish_breaking("Pay award confirmed")
        smtp.wait_for(MEMBERS * 3 // 10, timeout=180)
        server.stop()
        accepted_at_stop = len(smtp.accepted)
        time.sleep(DOWN_SECONDS)  # the outage itself, not a wait for something
        server.start()
        wait_until_finished(send, timeout=240)
        wait_until_idle()

    figures = report(
        count(
            scenario,
            members,
            smtp.copies(),
            [send],
            smtp.transactions(),
            note=f"down {DOWN_SECONDS}s after {accepted_at_stop} accepted; "
            f"{len(failed_sweeps)} sweeps failed meanwhile",
        )
    )
    assert ledger(send) == {"sent": MEMBERS}, unsent(send)[:20]
    assert figures.lost == 0 and figures.duplicated == 0


@pytest.mark.timeout(300)
def test_a_send_survives_a_redis_restart(
    env: dict[str, str], smtp: RecordingSmtpServer, redis: RedisServer, tmp_path: Path
) -> None:
    send_through_a_restart(redis, "3a Redis restarted", env, smtp, tmp_path)


@pytest.mark.timeout(300)
def test_a_send_survives_a_postgresql_restart(
    env: dict[str, str],
    smtp: RecordingSmtpServer,
    postgres: PostgresServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Queued rows are never re-queued by the sweep here (the default hour): the batches that
    # met the outage must be retried by the workers themselves.
    monkeypatch.setenv("NEWSLETTER_REQUEUE_PENDING_AFTER_SECONDS", "3600")
    get_settings.cache_clear()
    env = {**env, "NEWSLETTER_REQUEUE_PENDING_AFTER_SECONDS": "3600"}
    send_through_a_restart(postgres, "3b PostgreSQL restarted", env, smtp, tmp_path)

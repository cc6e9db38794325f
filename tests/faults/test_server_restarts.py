"""Scenario 3: Redis, then PostgreSQL, restarted in the middle of a 5,000-member send.

A restart of Redis loses its queues (the sweep queues their rows again) and doubles nothing. A
restart of PostgreSQL loses nothing either, and doubles nothing as long as it is back within
SENDING_TIMEOUT_SECONDS of the worker's last sign of life; otherwise the sweep can take back a
row whose message the SMTP server took during the outage before the worker has written its
result: at most two such rows per SMTP connection (the result the worker could not write, and
the one before it still on its way on PostgreSQL: results.py). docs/reliability.md says more.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from newsletter.config import get_settings
from newsletter.db import session_scope
from tests.faults.chaos import Chaos, sized
from tests.faults.crowd import add_crowd
from tests.faults.figures import count, report
from tests.faults.sends import ledger, publish_breaking, unsent, wait_until_finished
from tests.faults.smtp import RecordingSmtpServer
from tests.faults.sweeper import sweeping
from tests.support.servers import PostgresServer, RedisServer
from tests.support.worker import celery_worker, wait_until_idle

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.redis]

MEMBERS = sized(5000, 1500)
DOWN_SECONDS = 3
PROCESSES = 2


def send_through_a_restart(
    server: PostgresServer | RedisServer,
    scenario: str,
    env: dict[str, str],
    smtp: RecordingSmtpServer,
    chaos: Chaos,
    tmp_path: Path,
    bound: int = 0,
) -> None:
    """Stop the server once part of the send is out, start it again a few seconds later."""
    stop_at = chaos.uniform("stop_at", 0.3, 0.05, 0.9)
    down = chaos.uniform("down_seconds", DOWN_SECONDS, 0.5, 8.0)
    with session_scope() as session:
        members = add_crowd(session, MEMBERS, {"funding": "immediate"})

    with (
        sweeping() as failed_sweeps,
        celery_worker(env, tmp_path / "worker.log", concurrency=PROCESSES),
    ):
        send = publish_breaking("Pay award confirmed")
        smtp.wait_for(int(MEMBERS * stop_at), timeout=600)
        server.stop()
        accepted_at_stop = len(smtp.accepted)
        time.sleep(down)  # the outage itself, not a wait for something
        server.start()
        wait_until_finished(send, timeout=600)
        wait_until_idle(300)

    figures = report(
        count(
            scenario,
            members,
            smtp.copies(),
            [send],
            smtp.transactions(),
            note=f"down {down}s after {accepted_at_stop} accepted; "
            f"{len(failed_sweeps)} sweeps failed meanwhile",
            bound=bound,
            chaos=chaos,
        )
    )
    assert ledger(send) == {"sent": MEMBERS}, unsent(send)[:20]
    assert figures.lost == 0 and figures.duplicated <= figures.bound


@pytest.mark.timeout(900)
def test_a_send_survives_a_redis_restart(
    env: dict[str, str],
    smtp: RecordingSmtpServer,
    redis: RedisServer,
    chaos: Chaos,
    tmp_path: Path,
) -> None:
    send_through_a_restart(redis, "3a Redis restarted", env, smtp, chaos, tmp_path)


@pytest.mark.timeout(900)
def test_a_send_survives_a_postgresql_restart(
    env: dict[str, str],
    smtp: RecordingSmtpServer,
    postgres: PostgresServer,
    chaos: Chaos,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Queued rows are never re-queued by the sweep here (the default hour): the batches that
    # met the outage must be retried by the workers themselves.
    monkeypatch.setenv("NEWSLETTER_REQUEUE_PENDING_AFTER_SECONDS", "3600")
    get_settings.cache_clear()
    env = {**env, "NEWSLETTER_REQUEUE_PENDING_AFTER_SECONDS": "3600"}
    connections = PROCESSES * get_settings().SMTP_CONNECTIONS_PER_PROCESS
    send_through_a_restart(
        postgres, "3b PostgreSQL restarted", env, smtp, chaos, tmp_path, bound=2 * connections
    )

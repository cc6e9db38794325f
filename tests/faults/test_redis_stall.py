"""Scenario 10: one worker's Redis connection stalls (not closes) for 30 s in the middle of a
5,000-member send, while a second worker's does not.

The first worker reaches Redis through a proxy that is stopped (SIGSTOP): its connections stay
open and silent, so it neither fetches, acknowledges nor gets the SMTP connection slot its next
batch needs. The rows it has claimed but not handed over get no renewed lease
(ledger.renew_claims), so the sweep takes them back after SENDING_TIMEOUT_SECONDS and the other
worker sends them; rows queued in its hands wait REQUEUE_PENDING_AFTER_SECONDS and are queued
again. When the proxy comes back the first worker finds its rows gone (ledger.lock_and_recheck)
and sends none of them: at most the message each of its SMTP connections was handing over may
go twice.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.models import Delivery, DeliveryStatus
from tests.faults.chaos import Chaos, sized
from tests.faults.crowd import add_crowd
from tests.faults.figures import count, report
from tests.faults.sends import ledger, publish_breaking, unsent, wait_until_finished
from tests.faults.smtp import RecordingSmtpServer
from tests.faults.sweeper import sweeping
from tests.faults.tcp_proxy import tcp_proxy
from tests.support.servers import RedisServer
from tests.support.worker import celery_worker, wait_until_idle

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.redis]

MEMBERS = sized(5000, 1500)
PROCESSES = 2
STALL_SECONDS = 30.0


def held_longer_than(seconds: float, send: int) -> int:
    """Rows still claimed whose claim (or its last renewal) is older than `seconds`."""
    since = datetime.now(UTC) - timedelta(seconds=seconds)
    with session_scope() as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    Delivery.send_id == send,
                    Delivery.status == DeliveryStatus.SENDING,
                    Delivery.claimed_at < since,
                )
            )
            or 0
        )


@pytest.mark.timeout(900)
def test_a_worker_whose_redis_stalls_has_its_batches_sent_by_another_without_duplicates(
    env: dict[str, str],
    smtp: RecordingSmtpServer,
    redis: RedisServer,
    chaos: Chaos,
    tmp_path: Path,
) -> None:
    stall_at = chaos.uniform("stall_at", 0.3, 0.05, 0.8)
    stall_for = chaos.uniform("stall_seconds", STALL_SECONDS, 20.0, 45.0)
    with session_scope() as session:
        members = add_crowd(session, MEMBERS, {"funding": "immediate"})
    # When to look, during the stall, for rows left with the silent worker longer than the
    # sweep allows (its timeout, a sweep, some slack).
    timeout = get_settings().SENDING_TIMEOUT_SECONDS
    look_after, too_long = timeout + 8, timeout + 3

    with tcp_proxy(redis.port) as proxy:
        through_proxy = env["NEWSLETTER_BROKER_URL"].replace(f":{redis.port}/", f":{proxy.port}/")
        with (
            sweeping(),
            celery_worker(
                {**env, "NEWSLETTER_BROKER_URL": through_proxy},
                tmp_path / "stalled.log",
                concurrency=PROCESSES,
                name="stalled",
            ),
            celery_worker(env, tmp_path / "other.log", concurrency=PROCESSES, name="other"),
        ):
            send = publish_breaking("Pay award confirmed")
            smtp.wait_for(int(MEMBERS * stall_at), timeout=600)
            proxy.stall()
            stalled_since = time.monotonic()
            accepted_at_stall = len(smtp.accepted)
            time.sleep(min(stall_for, look_after))  # the stall itself goes on
            left_with_it = held_longer_than(too_long, send)
            time.sleep(max(0.0, stall_for - (time.monotonic() - stalled_since)))
            proxy.resume()
            wait_until_finished(send, timeout=600)
            wait_until_idle(300)

    figures = report(
        count(
            "10 a worker's Redis stalls",
            members,
            smtp.copies(),
            [send],
            smtp.transactions(),
            note=f"stalled {stall_for:.0f}s after {accepted_at_stall} accepted; "
            f"{left_with_it} rows held over {too_long}s, {look_after}s in",
            bound=PROCESSES * get_settings().SMTP_CONNECTIONS_PER_PROCESS,
            chaos=chaos,
        )
    )
    assert ledger(send) == {"sent": MEMBERS}, unsent(send)[:20]
    assert figures.lost == 0 and figures.duplicated <= figures.bound
    if stall_for >= look_after:
        assert left_with_it == 0  # its rows went to the other worker during the stall

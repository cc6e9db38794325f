"""Scenario 6: the fan-out of an alert, then a digest run, killed half way (SIGKILL of the
worker and its pool, as a crash or the OOM killer would), with 5,000 members.

Both are one transaction each: killed inside it, they leave nothing, and the broker keeps
their task unacknowledged for BROKER_VISIBILITY_TIMEOUT (six hours). The product does not wait
that long: the recovery sweep fans out an article published REQUEUE_PENDING_AFTER_SECONDS ago
whose alert was never made, and beat, asking every minute, makes the digest due that is not
made. Killed after their commit, while they queue their batches, they leave rows no task names:
the sweep queues those again. Either way everyone gets the alert and the digest once; a worker
killed while it also sends may double the messages in its hands (as scenario 1).
"""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis as redis_client

from newsletter import dispatch
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.delivery import jobs
from newsletter.delivery.alerts import alert_key
from newsletter.models import Frequency, Priority
from newsletter.scheduling import digest_key
from tests.faults.chaos import Chaos, sized
from tests.faults.crowd import add_crowd
from tests.faults.figures import count, report
from tests.faults.locks import table_locked, waiting_to_write
from tests.faults.processes import clock_env, fast_clock_beat, kill_hard
from tests.faults.sends import received_by_send, unfinished
from tests.faults.smtp import RecordingSmtpServer
from tests.faults.sweeper import sweeping
from tests.support.delivery_data import add_article, send_of
from tests.support.worker import celery_worker, wait_for, wait_until_idle

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.redis]

LONDON = ZoneInfo("Europe/London")
DIGEST_DAY = datetime(2026, 12, 9, 7, 0, tzinfo=LONDON)  # in the fake time of beat
BEAT_FROM = DIGEST_DAY - timedelta(minutes=1)
SPEED = 30  # beat asks for the digests due every 2 real seconds
# Everyone takes the daily digest; a fifth also npq alerts.
MEMBERS, ALERTED = sized(5000, 1500), sized(1000, 300)
PROCESSES = 2
DIGEST = digest_key(Frequency.DAILY, DIGEST_DAY, LONDON)


def members() -> dict[str, list[str]]:
    """The members, and the send keys each is owed; yesterday's digest was made."""
    with session_scope() as session:
        daily = add_crowd(session, MEMBERS - ALERTED, {"funding": "daily"}, prefix="d")
        both = add_crowd(session, ALERTED, {"funding": "daily", "npq": "immediate"}, prefix="b")
        for hour in (9, 15):
            add_article(session, f"Funding {hour}", ["funding"], published_at=yesterday(hour))
    jobs.digest(Frequency.DAILY, DIGEST_DAY - timedelta(days=1))
    return {**{a: [DIGEST] for a in daily}, **{a: [DIGEST, "alert"] for a in both}}


def yesterday(hour: int) -> datetime:
    return DIGEST_DAY - timedelta(days=1) + timedelta(hours=hour - 7)


def queued(queue: str, env: dict[str, str]) -> int:
    return int(redis_client.Redis.from_url(env["NEWSLETTER_BROKER_URL"]).llen(queue))


def kill_when(ready: Callable[[], bool], worker: subprocess.Popen[bytes], what: str) -> None:
    wait_for(ready, 300, what, poll=0.01)
    kill_hard(worker)


@pytest.mark.timeout(900)
def test_a_fan_out_and_a_digest_run_killed_half_way_still_reach_everyone_once(
    env: dict[str, str], smtp: RecordingSmtpServer, chaos: Chaos, tmp_path: Path
) -> None:
    owed = members()
    # Inside the transaction (the default), or after its commit while it queues its batches.
    alert_killed = chaos.choice("alert_killed", "inside", ["inside", "queueing"])
    digest_killed = chaos.choice("digest_killed", "inside", ["inside", "queueing"])
    with session_scope() as session:
        published = datetime.now(UTC)  # not a minute ago: the sweep would fan it out at once
        article = add_article(
            session, "NPQ funding", ["npq"], priority=Priority.BREAKING, published_at=published
        ).id
    alert = alert_key(article)

    with sweeping(), celery_worker(env, tmp_path / "w1.log", concurrency=PROCESSES) as w1:
        if alert_killed == "inside":
            with table_locked("delivery"):
                dispatch.article_published(article)
                kill_when(lambda: waiting_to_write("delivery"), w1, "no fan-out under way")
        else:
            dispatch.article_published(article)
            kill_when(lambda: queued("urgent", env) > 0, w1, "no alert batch queued")
    with sweeping(), celery_worker(env, tmp_path / "w2.log", concurrency=PROCESSES) as w2:
        beat_env = {**env, **clock_env(BEAT_FROM, SPEED)}
        with fast_clock_beat(beat_env, tmp_path / "beat.log"):
            if digest_killed == "inside":
                with table_locked("digest_watermark"):
                    kill_when(lambda: waiting_to_write("digest_watermark"), w2, "no digest run")
            else:
                kill_when(
                    lambda: send_of(DIGEST) is not None and queued("send", env) > 0,
                    w2,
                    "no digest batch queued",
                )
            with celery_worker(env, tmp_path / "w3.log", concurrency=PROCESSES):
                wait_for(
                    lambda: send_of(alert) is not None and send_of(DIGEST) is not None,
                    300,
                    "the alert or the digest was never made",
                )
                wait_for(lambda: unfinished() == 0, 600, "sends still running", poll=0.5)
                wait_until_idle(300)

    expected = Counter(f"{a} {alert if k == 'alert' else k}" for a, ks in owed.items() for k in ks)
    received = received_by_send(smtp)
    connections = PROCESSES * get_settings().SMTP_CONNECTIONS_PER_PROCESS
    figures = report(
        count(
            "6 fan-out and digest run killed",
            expected,
            received,
            [i for i in (send_of(alert), send_of(DIGEST)) if i is not None],
            smtp.transactions(),
            bound=2 * connections,  # two kills, each while the worker may also be sending
            chaos=chaos,
        )
    )
    assert figures.lost == 0 and figures.duplicated <= figures.bound
    assert set(received) == set(expected)

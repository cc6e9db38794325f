"""Scenario 6: the fan-out of an alert, then a digest run, killed half way (SIGKILL of the
worker and its pool, as a crash or the OOM killer would), with 5,000 members.

Both are streamed (ADR 0023): each chunk of 100 members is committed and its batches queued and
sent while the next is written. Killed half way (the default: a chunk waits for a member's row
the test holds, after some batches were sent), a fan-out leaves its send still fanning out;
the recovery sweep, FANOUT_STALLED_SECONDS after its last chunk, runs it again, and it goes
on after the last member written. Killed inside its first chunk, it leaves nothing, and the
broker keeps its task unacknowledged for BROKER_VISIBILITY_TIMEOUT (six hours); the product
does not wait that long: the sweep fans out an article published REQUEUE_PENDING_AFTER_SECONDS
ago whose alert was never made, and beat, asking every minute, makes the digest due that is not
made. Killed after a commit, while it queues its batches, it leaves rows no task names: the
sweep queues those again. Either way everyone gets the alert and the digest once; a worker
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
from sqlalchemy import func, select

from newsletter import dispatch
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.delivery import jobs
from newsletter.delivery.alerts import alert_key
from newsletter.models import Delivery, DeliveryStatus, Frequency, Priority, Send
from newsletter.scheduling import digest_key
from tests.faults.chaos import Chaos, sized
from tests.faults.crowd import add_crowd
from tests.faults.figures import count, report
from tests.faults.locks import members_locked, table_locked, waiting_to_write
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
# Chunks of 100: 10 for the alert, 50 for the digest (3 and 15 at the smaller size).
CHUNKS = {"NEWSLETTER_FANOUT_CHUNK": "100"}


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


def half_way(key: str) -> bool:
    """The send's fan-out is under way: some of its emails were sent, and a chunk of its rows
    waits for a member's row the test holds."""
    send = send_of(key)
    return send is not None and sent(send) > 0 and waiting_to_write("delivery")


def sent(send: int) -> int:
    with session_scope() as session:
        return (
            session.scalar(
                select(func.count()).where(
                    Delivery.send_id == send, Delivery.status == DeliveryStatus.SENT
                )
            )
            or 0
        )


def killed_half_way(key: str, owed: int) -> bool:
    """After the kill: the send is still fanning out, some of its rows sent, not all written."""
    send = send_of(key)
    assert send is not None
    with session_scope() as session:
        fanning_out = session.scalar(select(Send.fanout_progress_at).where(Send.id == send))
        written = session.scalar(select(func.count()).where(Delivery.send_id == send)) or 0
    return fanning_out is not None and sent(send) > 0 and written < owed


@pytest.mark.timeout(900)
def test_a_fan_out_and_a_digest_run_killed_half_way_still_reach_everyone_once(
    env: dict[str, str], smtp: RecordingSmtpServer, chaos: Chaos, tmp_path: Path
) -> None:
    env = {**env, **CHUNKS}
    owed = members()
    alerted = [a for a, ks in owed.items() if "alert" in ks]
    digest_only = [a for a, ks in owed.items() if "alert" not in ks]
    # Half way through its chunks (the default), inside its first chunk, or after a commit
    # while it queues its batches.
    when = ["half_way", "first_chunk", "queueing"]
    alert_killed = chaos.choice("alert_killed", "half_way", when)
    digest_killed = chaos.choice("digest_killed", "half_way", when)
    with session_scope() as session:
        published = datetime.now(UTC)  # not a minute ago: the sweep would fan it out at once
        article = add_article(
            session, "NPQ funding", ["npq"], priority=Priority.BREAKING, published_at=published
        ).id
    alert = alert_key(article)

    # No sweep until the kill: on a loaded machine the worker can take longer to start than
    # REQUEUE_PENDING_AFTER_SECONDS, and the sweep would fan the alert out a second time.
    with celery_worker(env, tmp_path / "w1.log", concurrency=PROCESSES) as w1:
        if alert_killed == "half_way":
            with members_locked([alerted[len(alerted) // 2]]):
                dispatch.article_published(article)
                kill_when(lambda: half_way(alert), w1, "no alert half way")
            assert killed_half_way(alert, len(alerted))
        elif alert_killed == "first_chunk":
            with table_locked("delivery"):
                dispatch.article_published(article)
                kill_when(lambda: waiting_to_write("delivery"), w1, "no fan-out under way")
        else:
            dispatch.article_published(article)
            kill_when(lambda: queued("urgent", env) > 0, w1, "no alert batch queued")
    with sweeping(), celery_worker(env, tmp_path / "w2.log", concurrency=PROCESSES) as w2:
        beat_env = {**env, **clock_env(BEAT_FROM, SPEED)}
        with fast_clock_beat(beat_env, tmp_path / "beat.log"):
            if digest_killed == "half_way":
                with members_locked([digest_only[len(digest_only) // 2]]):
                    kill_when(lambda: half_way(DIGEST), w2, "no digest run half way")
                assert killed_half_way(DIGEST, len(owed))
            elif digest_killed == "first_chunk":
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

"""Scenario 9: beat's wall clock jumps an hour forward over the digest hour, and back again
(a clock set by hand, a change of time applied twice), with 5,000 daily members.

The jump forward must not skip the digest (07:00 never ticks by); the jump back lives 07:00 a
second time and must not make it twice. Beat asks every minute for the latest digest due,
which is made once (its key), as of its due time (delivery/digests.due_digest). The clock of
the workers, claims and sweep does not jump here.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from newsletter.db import session_scope
from newsletter.delivery import jobs
from newsletter.models import Frequency, Send, SendKind
from newsletter.scheduling import digest_key
from tests.faults.chaos import Chaos, sized
from tests.faults.crowd import add_crowd
from tests.faults.figures import count, report
from tests.faults.processes import clock_env, fast_clock_beat
from tests.faults.sends import received_by_send, unfinished
from tests.faults.smtp import RecordingSmtpServer
from tests.faults.sweeper import sweeping
from tests.support.delivery_data import add_article, send_of
from tests.support.worker import celery_worker, wait_for, wait_until_idle

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.redis]

LONDON = ZoneInfo("Europe/London")
MONDAY = datetime(2026, 12, 14, 7, 0, tzinfo=LONDON)  # the daily and the weekly digest are due
BEAT_FROM = MONDAY - timedelta(hours=1, minutes=30)  # 05:30
SPEED = 720  # twelve fake minutes a real second: beat looks once a real second
HOUR = 3600
MEMBERS = sized(5000, 1500)
DAILY, WEEKLY = Frequency.DAILY, Frequency.WEEKLY


def made(frequency: Frequency) -> list[str]:
    with session_scope() as session:
        return sorted(
            session.scalars(
                select(Send.key).where(
                    Send.kind == SendKind.DIGEST, Send.key.startswith(f"digest:{frequency}:")
                )
            )
        )


@pytest.mark.timeout(900)
def test_a_clock_jumping_an_hour_forward_and_back_makes_each_digest_once(
    env: dict[str, str], smtp: RecordingSmtpServer, chaos: Chaos, tmp_path: Path
) -> None:
    # Fake times of the jumps: forward an hour shortly before 07:00, back an hour after it.
    forward_at = chaos.uniform("forward_at_minutes_before_7", 30, 1, 59)
    back_at = chaos.uniform("back_at_minutes_after_7", 60, 1, 120)
    with session_scope() as session:
        members = add_crowd(session, MEMBERS, {"funding": "daily"})
        # A weekly digest is made only when someone takes one (digests.due_digest); theirs
        # is due on Monday at 07:00 too (and holds nothing: no npq article).
        add_crowd(session, 50, {"npq": "weekly"}, prefix="w")
        sunday = MONDAY - timedelta(hours=20)
        add_article(session, "Sunday news", ["funding"], published_at=sunday)
    jobs.digest(DAILY, MONDAY - timedelta(days=1))  # Sunday's digest was made (empty)
    jobs.digest(WEEKLY, MONDAY - timedelta(days=7))
    # Real seconds after beat's start: the clock reaches 07:00 - forward_at, jumps an hour;
    # reaches 07:00 + back_at (in its new time), jumps back.
    forward = (90 - forward_at) * 60 / SPEED
    back = forward + (back_at + forward_at - 60) * 60 / SPEED
    jumps = [(forward, HOUR), (max(back, forward + 1.5), -HOUR)]
    ends = jumps[1][0] + 3 * HOUR / SPEED  # three more fake hours

    with sweeping(), celery_worker(env, tmp_path / "worker.log"):
        beat_env = {**env, **clock_env(BEAT_FROM, SPEED, jumps=jumps)}
        with fast_clock_beat(beat_env, tmp_path / "beat.log"):
            started = time.monotonic()
            wait_for(lambda: time.monotonic() - started > ends, 600, "beat's day did not end")
        wait_for(lambda: unfinished() == 0, 600, "sends still running", poll=0.5)
        wait_until_idle(300)

    monday = digest_key(DAILY, MONDAY, LONDON)
    received = received_by_send(smtp)
    sends = [i for i in (send_of(monday),) if i is not None]
    figures = report(
        count(
            "9 clock jumps an hour forward and back",
            Counter(f"{a} {monday}" for a in members),
            received,
            sends,
            smtp.transactions(),
            note=f"forward at {forward:.1f}s, back at {jumps[1][0]:.1f}s of beat's run",
            chaos=chaos,
        )
    )
    assert made(DAILY) == sorted([digest_key(DAILY, MONDAY - timedelta(days=1), LONDON), monday])
    assert made(WEEKLY) == sorted(
        [digest_key(WEEKLY, MONDAY - timedelta(days=7), LONDON), digest_key(WEEKLY, MONDAY, LONDON)]
    )
    assert "Sending due task digests" in (tmp_path / "beat.log").read_text()
    assert figures.lost == 0 and figures.duplicated == 0

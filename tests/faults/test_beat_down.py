"""Scenario 11: beat down for days (a week in `make test`), then started again, with 5,000
daily members and staff's scheduled announcements.

On restart the daily digest is made once (not once per day missed): beat asks for the latest
digest due, made as of its time, and every member's watermark carries the days missed into
it; the weekly digest the same. Scheduled sends follow their own documented rule (README,
SCHEDULE_GRACE_MINUTES): one whose time passed more than the grace ago is marked missed and
not sent (staff may start it with `sends retry`); one a few minutes late is started; one still
to come starts on time.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from newsletter.db import session_scope
from newsletter.delivery import jobs
from newsletter.delivery.announcements import schedule_announcement
from newsletter.models import Delivery, Frequency, Send, SendKind
from newsletter.scheduling import digest_key
from tests.faults.chaos import Chaos, sized
from tests.faults.crowd import add_crowd
from tests.faults.figures import count, report
from tests.faults.processes import clock_env, fast_clock_beat
from tests.faults.sends import received_by_send, unfinished
from tests.faults.smtp import RecordingSmtpServer
from tests.faults.sweeper import sweeping
from tests.support.delivery_data import add_article, send_status
from tests.support.worker import celery_worker, wait_for, wait_until_idle

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.redis]

LONDON = ZoneInfo("Europe/London")
STOPPED = datetime(2026, 12, 14, 10, 0, tzinfo=LONDON)  # Monday, after its digests
# A fake minute a real second: the grace of scheduled sends (30 minutes) is half a minute of
# real time, not 2.5 s, so a worker seconds behind on a loaded machine still starts them.
SPEED = 60
# All take the daily digest; a tenth also careers announcements.
MEMBERS, CAREERS = sized(5000, 1500), sized(500, 150)
DAYS_DOWN = 7


def announce(subject: str, moment: datetime) -> int:
    with session_scope() as session:
        return schedule_announcement(
            session,
            subject=subject,
            body_markdown="See you **there**.",
            topic_slugs=["careers"],
            roles=[],
            at=moment,
            actor="test",
            now=STOPPED - timedelta(hours=1),
        ).id


def digest_sends() -> dict[str, int]:
    """{key: deliveries} of the digests made after beat stopped."""
    with session_scope() as session:
        sends = session.execute(
            select(Send.id, Send.key).where(Send.kind == SendKind.DIGEST, Send.key.isnot(None))
        ).all()
        return {
            str(key): len(session.scalars(select(Delivery.id).where(Delivery.send_id == i)).all())
            for i, key in sends
            if key not in MADE_BEFORE
        }


MADE_BEFORE = {
    digest_key(Frequency.DAILY, STOPPED, LONDON),
    digest_key(Frequency.WEEKLY, STOPPED, LONDON),
}


@pytest.mark.timeout(900)
def test_beat_down_for_days_makes_the_missed_digest_once_and_misses_late_sends(
    env: dict[str, str], smtp: RecordingSmtpServer, chaos: Chaos, tmp_path: Path
) -> None:
    days = chaos.integer("days_down", DAYS_DOWN, 1, 7)
    back = STOPPED + timedelta(days=days, hours=2)  # at noon
    with session_scope() as session:
        daily = add_crowd(session, MEMBERS - CAREERS, {"funding": "daily"}, prefix="d")
        careers = add_crowd(session, CAREERS, {"funding": "daily", "careers": "weekly"}, "c")
    # Monday's digests were made (empty: the news is newer) before beat stopped at 10:00.
    jobs.digest(Frequency.DAILY, STOPPED - timedelta(hours=3))
    jobs.digest(Frequency.WEEKLY, STOPPED - timedelta(hours=3))
    with session_scope() as session:
        for day in range(days):  # news every day beat was down
            moment = STOPPED + timedelta(days=day, hours=2)
            add_article(session, f"News of day {day}", ["funding"], published_at=moment)
    missed = announce("Missed", STOPPED + timedelta(hours=4))  # its time came while beat was down
    late = announce("A little late", back - timedelta(minutes=5))  # within the grace
    on_time = announce("On time", back + timedelta(minutes=30))

    with sweeping(), celery_worker(env, tmp_path / "worker.log"):
        beat_env = {**env, **clock_env(back, SPEED)}
        with fast_clock_beat(beat_env, tmp_path / "beat.log"):
            wait_for(lambda: send_status(on_time).value != "scheduled", 600, "no send started")
        wait_for(lambda: unfinished() == 0, 600, "sends still running", poll=0.5)
        wait_until_idle(300)

    today = digest_key(Frequency.DAILY, back, LONDON)
    expected = Counter(f"{a} {today}" for a in [*daily, *careers])
    expected.update(f"{a} {key}" for a in careers for key in (str(late), str(on_time)))
    received = received_by_send(smtp)
    made = digest_sends()
    with session_scope() as session:
        ids = list(session.scalars(select(Send.id).where(Send.key == today)))
    figures = report(
        count(
            "11 beat down for days",
            expected,
            received,
            [*ids, late, on_time],
            smtp.transactions(),
            note=f"down {days} days: digests made on restart {sorted(made)}",
            chaos=chaos,
        )
    )
    assert made[today] == MEMBERS  # one daily digest, for everyone
    assert [key for key in made if key.startswith("digest:daily:")] == [today]
    assert len([key for key in made if key.startswith("digest:weekly:")]) == (days >= 7)
    assert {s: send_status(s).value for s in (missed, late, on_time)} == {
        missed: "missed",
        late: "sent",
        on_time: "sent",
    }
    assert figures.lost == 0 and figures.duplicated == 0
    assert received == expected

"""Scenario 4: two beat processes and three workers at once over a day of scheduled work
(daily and weekly digests, deadline reminders, staff announcements) on a fast clock: each
send is made once and each member gets each of their emails once."""

from __future__ import annotations

import time
from collections import Counter
from contextlib import ExitStack
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from newsletter.db import session_scope
from newsletter.delivery import jobs
from newsletter.delivery.announcements import cancel_send, schedule_announcement
from newsletter.models import Delivery, Frequency, Send
from newsletter.scheduling import digest_key, reminder_key
from tests.faults.chaos import Chaos, sized
from tests.faults.crowd import add_crowd
from tests.faults.figures import count, report
from tests.faults.processes import clock_env, fast_clock_beat
from tests.faults.sends import keys_by_send, received_by_send, unfinished
from tests.faults.smtp import RecordingSmtpServer
from tests.support.delivery_data import add_article
from tests.support.worker import celery_worker, wait_for, wait_until_idle

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.redis]

LONDON = ZoneInfo("Europe/London")
FAKE_START = datetime(2026, 12, 7, 2, 0, tzinfo=LONDON)  # hours before the first work is due
FAKE_END = datetime(2026, 12, 8, 7, 30, tzinfo=LONDON)  # after Tuesday's daily digest
SPEED = 2880  # a day in half a minute
# Beat looks at its schedule once a real second (fast_clock.LOOP_SECONDS): 48 minutes of the
# fake day, and at a load of 15 its loop stalled for seconds (hours of the fake day). A
# scheduled send this late must still start: twelve hours (15 real seconds), still within
# the day, so each is started by the beats' checks, once.
GRACE = {"NEWSLETTER_SCHEDULE_GRACE_MINUTES": "720"}
DAILY, WEEKLY, OTHERS = sized(5000, 1500), 400, 300
MADE_BEFORE = ("digest:daily:2026-12-06", "digest:weekly:2026-W49")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of the fake week: December `day`, 2026, London time."""
    return datetime(2026, 12, day, hour, minute, tzinfo=LONDON)


def plan_the_day() -> tuple[dict[str, list[str]], str]:
    """Members, articles and announcements; returns the send keys each address is owed, and
    the cancelled announcement's."""
    owed: dict[str, list[str]] = {}
    with session_scope() as session:
        for address in add_crowd(session, DAILY, {"funding": "daily"}, prefix="daily"):
            owed[address] = [digest_key(Frequency.DAILY, at(7, 7), LONDON)]
        weekly = add_crowd(session, WEEKLY, {"npq": "weekly", "careers": "immediate"}, "weekly")
        for address in add_crowd(session, OTHERS, {"itt": "daily"}, prefix="itt"):
            owed[address] = [
                digest_key(Frequency.DAILY, at(7, 7), LONDON),
                digest_key(Frequency.DAILY, at(8, 7), LONDON),
            ]
        add_article(session, "Funding rates for 2027", ["funding"], published_at=at(6, 12))
        add_article(session, "ITT census", ["itt"], published_at=at(6, 15))
        add_article(session, "ITT bursaries", ["itt"], published_at=at(7, 14))  # Tuesday's
        add_article(session, "NPQ cohort opens", ["npq"], published_at=at(2, 9))
        closes_in_7 = add_article(
            session, "NPQ applications", ["npq"], published_at=at(3, 9), closes=date(2026, 12, 14)
        )
        closes_in_1 = add_article(
            session, "NPQ scholarship", ["npq"], published_at=at(4, 9), closes=date(2026, 12, 8)
        )
        session.flush()
        keys = [
            digest_key(Frequency.WEEKLY, at(7, 7), LONDON),
            reminder_key(closes_in_7.deadlines[0].id, 7),
            reminder_key(closes_in_1.deadlines[0].id, 1),
        ]
    for hour, minute, topic in ((9, 30, "careers"), (10, 0, "careers"), (12, 0, "npq")):
        keys.append(announce(f"Announcement {hour:02d}:{minute:02d}", topic, at(7, hour, minute)))
    cancelled = announce("Cancelled announcement", "careers", at(7, 11))
    with session_scope() as session:
        cancel_send(session, int(cancelled), "test")
    for address in weekly:
        owed[address] = keys
    # Last week's and yesterday's digests were made (empty: their articles are newer), as
    # beat does every day; otherwise beat would make them at the start, as the latest due.
    jobs.digest(Frequency.DAILY, at(6, 7))
    jobs.digest(Frequency.WEEKLY, datetime(2026, 11, 30, 7, tzinfo=LONDON))
    return owed, cancelled


def announce(subject: str, topic: str, moment: datetime) -> str:
    with session_scope() as session:
        send = schedule_announcement(
            session,
            subject=subject,
            body_markdown="See you **there**.",
            topic_slugs=[topic],
            roles=[],
            at=moment,
            actor="test",
            now=FAKE_START,
        )
        return str(send.id)


@pytest.mark.timeout(900)
def test_two_beats_and_three_workers_send_a_days_work_once(
    env: dict[str, str], smtp: RecordingSmtpServer, chaos: Chaos, tmp_path: Path
) -> None:
    owed, cancelled = plan_the_day()
    expected = Counter(f"{address} {key}" for address, keys in owed.items() for key in keys)
    env = {**env, **GRACE}
    # The soak staggers the second beat, so the two ask at different moments of the fake day.
    stagger = chaos.uniform("second_beat_after", 0.0, 0.0, 1.0)

    with ExitStack() as workers:
        for name in ("w1", "w2", "w3"):
            workers.enter_context(celery_worker(env, tmp_path / f"{name}.log", name=name))
        with ExitStack() as beats:
            # Both beats' fake day starts when this file is made, once both have started: on a
            # loaded machine a beat can take many seconds (hours of the fake day) to start.
            go = tmp_path / "fake-day-starts"
            clock = {
                **clock_env(FAKE_START, SPEED, f"file:{go}"),
                "FAST_CLOCK_FAKE_END": FAKE_END.isoformat(),
            }
            for name in ("beat-a", "beat-b"):
                beat_env = {**env, **clock, "NEWSLETTER_VAR_DIR": str(tmp_path / name)}
                beats.enter_context(fast_clock_beat(beat_env, tmp_path / f"{name}.log"))
                time.sleep(stagger)  # the soak's fault timing, not a wait for something
            go.touch()
            real_start = go.stat().st_mtime
            day_over = real_start + (FAKE_END - FAKE_START).total_seconds() / SPEED
            wait_for(lambda: time.time() > day_over, 600, "the fake day did not end")
        wait_for(lambda: unfinished() == 0, 600, "sends still running", poll=0.5)
        wait_until_idle(300)

    received = received_by_send(smtp)
    keys = keys_by_send()
    with session_scope() as session:
        sends = {keys[i]: s.value for i, s in session.execute(select(Send.id, Send.status))}
        send_ids = list(session.scalars(select(Delivery.send_id).distinct()))
    figures = report(
        count(
            "4 two beats, three workers, one day",
            expected,
            received,
            send_ids,
            smtp.transactions(),
            note=f"{len(sends)} sends made once each by 2 beats on a {SPEED}x clock",
            chaos=chaos,
        )
    )
    assert received == expected
    assert figures.lost == 0 and figures.duplicated == 0
    owed_sends = {key for keys in owed.values() for key in keys} | set(MADE_BEFORE)
    assert sends == {**dict.fromkeys(owed_sends, "sent"), cancelled: "cancelled"}

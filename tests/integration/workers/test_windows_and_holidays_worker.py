"""Issue 20's "done when", end to end: a real worker, beat on a fast test clock (the product's
own schedule, tests/faults/fast_clock.py), PostgreSQL, Redis and the SMTP test server.

An alert published on Saturday at 10:00 goes out on Monday at 07:00, once; a member who pauses
daily digests in school holidays gets none in half term and one on the first day back, holding
every article of the half term and nothing twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import school_calendar
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.delivery import alerts
from newsletter.models import Delivery, Member, Send, SendStatus
from newsletter.scheduling import at_local
from newsletter.term_dates import Term
from tests.faults.processes import clock_env, fast_clock_beat
from tests.support import worker_env
from tests.support.delivery_data import add_article, add_member, send_status
from tests.support.smtp_server import SmtpTestServer
from tests.support.worker import celery_worker, wait_for, wait_until_idle

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

session = worker_env.session  # the fixture, on the database the worker uses


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


LONDON = ZoneInfo("Europe/London")


def coming(weekday: int, after_days: int) -> date:
    """The first such weekday (0 = Monday) at least `after_days` from today. Beat's checks
    expire a minute after beat's clock says they were sent, so its fake clock must not run
    behind the real one: the scenarios are set in the weeks to come."""
    day = datetime.now(UTC).date() + timedelta(days=after_days)
    return day + timedelta(days=(weekday - day.weekday()) % 7)


SATURDAY = coming(5, 7)
SATURDAY_10AM = at_local(SATURDAY, 10, LONDON)
MONDAY_7AM = at_local(SATURDAY + timedelta(days=2), 7, LONDON)
DAILY_JUMPS = [(1.0 * day, 86_400.0) for day in range(1, 11)]  # (real seconds, fake seconds)


@pytest.fixture
def window_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:  # noqa: F811
    monkeypatch.setenv("NEWSLETTER_SEND_WINDOW_ENABLED", "true")
    get_settings.cache_clear()
    return {**env, "NEWSLETTER_SEND_WINDOW_ENABLED": "true"}


def beat_env(
    env: dict[str, str],  # noqa: F811
    start: datetime,
    end: datetime,
    speed: float = 1,
    jumps: list[tuple[float, float]] | None = None,
) -> dict[str, str]:
    return {
        **env,
        **clock_env(start, speed, jumps=jumps or []),
        "FAST_CLOCK_FAKE_END": end.isoformat(),
    }


def test_an_alert_published_on_saturday_goes_out_on_monday_at_seven_once(
    window_env: dict[str, str],
    session: Session,  # noqa: F811
    smtp: SmtpTestServer,
    tmp_path: Path,
) -> None:
    add_member(session, "ann@example.com", {"funding": "immediate"})
    add_member(session, "bob@example.com", {"funding": "immediate"})
    article = add_article(session, "Capital grants", ["funding"], published_at=SATURDAY_10AM)
    session.commit()
    with session_scope() as s:
        held = alerts.fan_out_article(s, article.id, now=SATURDAY_10AM)
    assert held.send_id is not None and held.recipients == 0

    clock = beat_env(
        window_env, MONDAY_7AM - timedelta(seconds=20), MONDAY_7AM + timedelta(hours=1), 10
    )
    with (
        celery_worker(window_env, tmp_path / "worker.log", concurrency=2),
        fast_clock_beat(clock, tmp_path / "beat.log"),
    ):
        wait_for(lambda: send_status(held.send_id or 0) == SendStatus.SENT, 120, "alert not sent")
        wait_until_idle()

    assert Counter(smtp.recipients()) == {"ann@example.com": 1, "bob@example.com": 1}
    with session_scope() as s:
        send = s.get(Send, held.send_id)
        assert send is not None and send.started_at is not None
        assert MONDAY_7AM <= send.started_at < MONDAY_7AM + timedelta(minutes=2)


def test_half_term_pauses_a_members_daily_digest_and_the_first_day_back_catches_up_once(
    env: dict[str, str],  # noqa: F811
    session: Session,  # noqa: F811
    smtp: SmtpTestServer,
    tmp_path: Path,
) -> None:
    last_day = coming(4, 14)  # a Friday, the last day of term; back on the Monday week
    first_day_back = last_day + timedelta(days=10)
    school_calendar.import_terms(
        session,
        "england",
        [
            Term("Before", last_day - timedelta(days=40), last_day),
            Term("After", first_day_back, first_day_back + timedelta(days=40)),
        ],
        "test",
    )
    ann = add_member(session, "ann@example.com", {"funding": "daily"})
    ann.pause_in_holidays = True
    add_member(session, "bob@example.com", {"funding": "daily"})
    half_term = [last_day + timedelta(days=n) for n in range(1, 10)]  # Saturday to Sunday week
    articles = [
        add_article(
            session, f"News of {day:%A %d}", ["funding"], published_at=at_local(day, 10, LONDON)
        ).id
        for day in half_term
    ]
    session.commit()
    start = at_local(last_day, 8, LONDON)
    back = at_local(first_day_back, 7, LONDON)
    back_key = f"digest:daily:{first_day_back.isoformat()}"

    # Beat's clock stands at Friday 08:00 until `started` is made, then a day passes every
    # second (its minutely checks run once on each day) until the first day back at 07:30.
    started, beat_log = tmp_path / "clock-started", tmp_path / "beat.log"
    clock = beat_env(env, start, back + timedelta(minutes=30), jumps=DAILY_JUMPS)
    clock["FAST_CLOCK_REAL_START"] = f"file:{started}"

    def back_digest_sent() -> bool:
        with session_scope() as s:
            status = s.scalar(select(Send.status).where(Send.key == back_key))
        return status == SendStatus.SENT

    with (
        celery_worker(env, tmp_path / "worker.log", concurrency=2),
        fast_clock_beat(clock, beat_log),
    ):
        started.touch()
        wait_for(back_digest_sent, 240, "the first day back's digest was not sent")
        wait_until_idle()

    received = Counter(smtp.recipients())
    assert received["ann@example.com"] == 1
    with session_scope() as s:
        rows = s.execute(
            select(Member.email, Send.key, Delivery.content)
            .join(Send, Send.id == Delivery.send_id)
            .join(Member, Member.id == Delivery.member_id)
            .order_by(Send.key)
        ).all()
    carried = {
        (email, key): [a for _, ids in content["groups"] for a in ids]
        for email, key, content in rows
    }
    assert [key for email, key in carried if email == "ann@example.com"] == [back_key]
    assert carried[("ann@example.com", back_key)] == articles
    bob = [a for (email, _), ids in carried.items() if email == "bob@example.com" for a in ids]
    assert sorted(bob) == articles  # each once, in the digests of half term
    assert received["bob@example.com"] == len([k for e, k in carried if e == "bob@example.com"]) > 1

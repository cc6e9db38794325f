"""A deadline reaches members' calendars from their email: an alert and a reminder sent by a
real worker (embedded broker, SQLite) to the SMTP test server carry an .ics that `icalendar`
reads, holding the deadline's date and an alarm the day before."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest

from newsletter import dispatch
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.delivery import jobs
from tests.support.delivery_data import add_article, add_member
from tests.support.smtp_server import SmtpTestServer
from tests.support.worker import celery_worker

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


def calendars_in(smtp: SmtpTestServer, subject_start: str) -> list[icalendar.Calendar]:
    found = []
    for message in smtp.messages:
        parsed = message.parsed()
        if not str(parsed["Subject"]).startswith(subject_start):
            continue
        for part in parsed.iter_attachments():
            assert part.get_content_type() == "text/calendar"
            assert part.get_filename() == "deadline.ics"
            found.append(icalendar.Calendar.from_ical(str(part.get_content())))
    return found


def test_alert_and_reminder_through_the_worker_carry_the_deadline_for_calendars(
    sqlite_template: Path, smtp: SmtpTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_url = f"sqlite:///{tmp_path / 'newsletter.db'}"
    shutil.copy(sqlite_template, tmp_path / "newsletter.db")
    env = {"NEWSLETTER_DATABASE_URL": db_url, **smtp.env()}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    today = datetime.now(UTC).astimezone(LONDON).date()
    closes = today + timedelta(days=7)
    with session_scope() as session:
        add_member(session, "ann@example.com", {"funding": "immediate"})
        article_id = add_article(session, "Capital bids", ["funding"], closes=closes).id

    with celery_worker(env, tmp_path / "worker.log", concurrency=1):
        dispatch.article_published(article_id)
        smtp.wait_for(1)
        reminder_time = datetime.combine(today, time(8, 1), LONDON).astimezone(UTC)
        [run] = jobs.reminders_due(as_of=reminder_time)
        smtp.wait_for(2)

    assert run.created and run.days_before == 7
    for subject in ("Capital bids", "Closes in 7 days: Capital bids"):
        [calendar] = calendars_in(smtp, subject)
        [event] = calendar.walk("VEVENT")
        [alarm] = event.walk("VALARM")
        assert event.decoded("dtstart") == closes, subject
        assert str(event["summary"]) == "Closes: Capital bids"
        assert alarm.decoded("trigger") == timedelta(days=-1)
    assert sorted(smtp.recipients()) == ["ann@example.com"] * 2

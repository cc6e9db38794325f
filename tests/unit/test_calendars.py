"""Deadlines as iCalendar: the file an alert or reminder carries, read back with `icalendar`."""

from __future__ import annotations

from datetime import date, timedelta

import icalendar
import pytest

from newsletter.calendars import DeadlineEvent, calendar_bytes
from newsletter.rendering import ArticleView, DeadlineView, Recipient
from newsletter.rendering.emails import prepare_alert, prepare_reminder
from tests.support.rendering import parse, text_of

ANN = Recipient(member_id=12, email="ann@example.com", name="Ann Archer", token_version=3)
CLOSES = date(2099, 3, 20)


def article(*deadlines: DeadlineView) -> ArticleView:
    return ArticleView(
        id=7,
        title="Capital bids",
        summary="Bids for capital funding.",
        body_html="<p>Bids close on 20 March 2099.</p>",
        url="http://localhost:8000/articles/7",
        deadlines=list(deadlines),
    )


def closing(day: date, deadline_id: int = 3, kind: str = "closes") -> DeadlineView:
    return DeadlineView(day, "day", kind, "Bids close on 20 March 2099.", deadline_id=deadline_id)


def attached_calendars(data: bytes) -> list[icalendar.Calendar]:
    message = parse(data)
    return [
        icalendar.Calendar.from_ical(str(part.get_content()))
        for part in message.iter_attachments()
        if part.get_content_type() == "text/calendar"
    ]


def test_an_alert_with_a_closing_deadline_carries_it_as_an_event_with_an_alarm() -> None:
    sent = prepare_alert(article(closing(CLOSES)), send_id=1).personalise(ANN)

    message = parse(sent.data)
    [calendar] = attached_calendars(sent.data)
    [event] = calendar.walk("VEVENT")
    [alarm] = event.walk("VALARM")
    assert message.get_content_type() == "multipart/mixed"
    assert "Capital bids" in text_of(message)  # the text and HTML parts are still there
    assert message.get_body(("html",)) is not None
    assert [a.get_filename() for a in message.iter_attachments()] == ["deadline.ics"]
    assert event.decoded("dtstart") == CLOSES
    assert event.decoded("dtend") == CLOSES + timedelta(days=1)
    assert str(event["summary"]) == "Closes: Capital bids"
    assert str(event["url"]) == "http://localhost:8000/articles/7"
    assert alarm.decoded("trigger") == timedelta(days=-1)
    assert not message.defects and not any(p.defects for p in message.walk())
    assert max(len(line) for line in sent.data.split(b"\r\n")) <= 998


@pytest.mark.parametrize(
    "deadline",
    [
        closing(date(2000, 1, 1)),  # past
        closing(CLOSES, kind="opens"),
        DeadlineView(CLOSES, "month", "closes", deadline_id=3),  # no day to put it on
        closing(CLOSES, deadline_id=None),  # type: ignore[arg-type]  # not stored (a preview)
    ],
)
def test_an_alert_without_a_calendar_deadline_has_no_attachment(deadline: DeadlineView) -> None:
    sent = prepare_alert(article(deadline), send_id=1).personalise(ANN)

    assert parse(sent.data).get_content_type() == "multipart/alternative"
    assert attached_calendars(sent.data) == []


def test_a_reminder_carries_only_the_deadline_it_reminds_of() -> None:
    later = closing(CLOSES + timedelta(days=30), deadline_id=4)
    view = article(closing(CLOSES), later)

    sent = prepare_reminder(view, later, 7, send_id=1).personalise(ANN)

    [calendar] = attached_calendars(sent.data)
    assert [e.decoded("dtstart") for e in calendar.walk("VEVENT")] == [later.date]


def test_an_event_keeps_its_uid_so_a_calendar_updates_rather_than_repeats() -> None:
    event = DeadlineEvent(3, CLOSES, "Capital bids", "http://localhost:8000/articles/7")

    first = icalendar.Calendar.from_ical(calendar_bytes([event], domain="example.org"))
    second = icalendar.Calendar.from_ical(calendar_bytes([event], domain="example.org"))

    uids = [str(e["uid"]) for c in (first, second) for e in c.walk("VEVENT")]
    assert uids == ["deadline-3@example.org"] * 2

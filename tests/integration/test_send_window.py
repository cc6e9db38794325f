"""The send window: a normal alert published outside it is held, once, until it opens; a
breaking alert goes at once; an announcement respects it only when staff ask."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.delivery import alerts, jobs
from newsletter.delivery.announcements import schedule_announcement
from newsletter.inline import inline
from newsletter.models import Priority, Send, SendKind, SendStatus
from tests.support.delivery_data import add_article, add_member, statuses

# London is on UTC in December.
SATURDAY_10AM = datetime(2026, 12, 5, 10, tzinfo=UTC)
SUNDAY_7AM = datetime(2026, 12, 6, 7, tzinfo=UTC)
MONDAY_7AM = datetime(2026, 12, 7, 7, tzinfo=UTC)


@pytest.fixture(autouse=True)
def window_on(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SEND_WINDOW_ENABLED", "true")
    get_settings.cache_clear()


def publish(session: Session, title: str, priority: Priority = Priority.NORMAL) -> int:
    """An article published on Saturday at 10:00 and its alert fanned out then."""
    article = add_article(
        session, title, ["funding"], priority=priority, published_at=SATURDAY_10AM
    )
    session.commit()
    with session_scope() as s:
        result = alerts.fan_out_article(s, article.id, now=SATURDAY_10AM)
    assert result.send_id is not None
    return result.send_id


def test_an_alert_published_on_saturday_is_held_and_goes_once_on_monday_at_seven(
    session: Session,
) -> None:
    add_member(session, "ann@example.com", {"funding": "immediate"})
    add_member(session, "bob@example.com", {"funding": "immediate"})
    session.commit()
    send_id = publish(session, "Capital grants")

    shown = CliRunner().invoke(app, ["sends", "show", str(send_id)])
    assert "held until 07:00 Monday 7 December (outside the send window)" in shown.stdout
    assert statuses(send_id) == {}
    with inline():
        assert jobs.due_sends(MONDAY_7AM - timedelta(minutes=1)).started == []
        assert jobs.due_sends(MONDAY_7AM).started == [send_id]
        assert jobs.due_sends(MONDAY_7AM + timedelta(minutes=1)).started == []
    assert statuses(send_id) == {"ann@example.com": "sent", "bob@example.com": "sent"}
    with session_scope() as s:
        send = s.get(Send, send_id)
        assert send is not None and send.started_at == MONDAY_7AM
        assert send.status == SendStatus.SENT
    # Published again (a second fan-out of the same article): nothing new.
    with session_scope() as s:
        again = alerts.fan_out_article(s, send.article_id or 0, now=MONDAY_7AM)
    assert (again.created, again.recipients) == (False, 0)


def test_a_breaking_alert_goes_at_once_on_a_saturday(session: Session) -> None:
    add_member(session, "ann@example.com", {"funding": "immediate"})
    session.commit()
    send_id = publish(session, "Schools to close", Priority.BREAKING)
    assert statuses(send_id) == {"ann@example.com": "pending"}
    with session_scope() as s:
        send = s.get(Send, send_id)
        assert send is not None and send.status == SendStatus.SENDING and not send.held


def test_a_held_alert_leaves_out_whoever_a_weekend_digest_brought_the_article_to(
    session: Session,
) -> None:
    add_member(session, "ann@example.com", {"funding": "immediate"})
    add_member(session, "cat@example.com", {"funding": "immediate", "npq": "daily"})
    article = add_article(session, "NPQ funding", ["funding", "npq"], published_at=SATURDAY_10AM)
    session.commit()
    with session_scope() as s:
        send_id = alerts.fan_out_article(s, article.id, now=SATURDAY_10AM).send_id
    with inline():
        jobs.due_digests(SUNDAY_7AM)  # Sunday's daily digest brings it to Cat
        jobs.due_sends(MONDAY_7AM)
    assert send_id is not None
    assert statuses(send_id) == {"ann@example.com": "sent"}


def test_an_announcement_respects_the_window_only_when_asked(session: Session) -> None:
    add_member(session, "ann@example.com", {"funding": "immediate"})
    session.commit()
    saturday_night = datetime(2026, 12, 5, 21, tzinfo=UTC)
    friday = saturday_night - timedelta(days=1, hours=12)

    def announce(respect: bool) -> Send:
        with session_scope() as s:
            send = schedule_announcement(
                s,
                subject="Conference",
                body_markdown="Book now.",
                topic_slugs=["funding"],
                roles=[],
                at=saturday_night,
                actor="test",
                now=friday,
                respect_window=respect,
            )
            s.expunge(send)
            return send

    urgent, patient = announce(False), announce(True)
    assert (urgent.scheduled_at, urgent.held) == (saturday_night, False)
    assert (patient.scheduled_at, patient.held) == (MONDAY_7AM, True)


def test_with_the_window_off_a_saturday_alert_goes_at_once(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_SEND_WINDOW_ENABLED", "false")
    get_settings.cache_clear()
    add_member(session, "ann@example.com", {"funding": "immediate"})
    session.commit()
    send_id = publish(session, "Capital grants")
    with session_scope() as s:
        kinds = s.execute(select(Send.kind, Send.status).where(Send.id == send_id)).one()
    assert tuple(kinds) == (SendKind.ALERT, SendStatus.SENDING)

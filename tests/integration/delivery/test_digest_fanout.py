"""The digest fan-out's set-based writes, on SQLite and PostgreSQL: members who share a digest
still get a row and a watermark each, across chunks, with the digest rules kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.config import get_settings
from newsletter.delivery import digests
from newsletter.models import (
    Delivery,
    DeliveryStatus,
    DigestWatermark,
    Frequency,
    Member,
    Send,
    SendKind,
    SendStatus,
)
from tests.support.delivery_data import add_article, add_member, topic_ids

MONDAY = datetime(2026, 11, 23, 7, tzinfo=UTC)
LAST_WEEK = MONDAY - timedelta(days=7)


def run(session: Session) -> digests.DigestRun:
    return digests.run_digest(session, Frequency.WEEKLY, MONDAY, get_settings())


def contents(session: Session, send_id: int) -> dict[str, Any]:
    """{email: digest groups} of the send's rows, failing if anyone has two."""
    rows = session.execute(
        select(Member.email, Delivery.content)
        .join(Member, Member.id == Delivery.member_id)
        .where(Delivery.send_id == send_id)
    ).all()
    assert len(rows) == len({email for email, _ in rows})
    return {email: content["groups"] for email, content in rows}


def watermarks(session: Session) -> dict[str, datetime]:
    return dict(
        session.execute(
            select(Member.email, DigestWatermark.until).join(
                Member, Member.id == DigestWatermark.member_id
            )
        ).all()
    )


def test_members_sharing_a_digest_each_get_a_row_and_a_watermark(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_FANOUT_CHUNK", "3")  # several chunks, contents shared
    get_settings.cache_clear()
    alike = [f"same{i}@example.com" for i in range(7)]
    for i, email in enumerate(alike):
        add_member(session, email, {"funding": "weekly", "npq": "weekly"})
        if i == 3:
            # Left out, yet within a chunk's id range: no row and no watermark.
            add_member(session, "paused@example.com", {"funding": "weekly"}, paused=True)
    add_member(session, "other@example.com", {"itt": "weekly"})
    add_member(session, "nothing@example.com", {"careers": "weekly"})
    funding = add_article(
        session, "Funding", ["funding"], published_at=LAST_WEEK + timedelta(days=1)
    )
    npq = add_article(
        session, "NPQ", ["npq", "funding"], published_at=LAST_WEEK + timedelta(days=2)
    )
    itt = add_article(session, "ITT", ["itt"], published_at=LAST_WEEK + timedelta(days=3))
    session.commit()

    result = run(session)
    session.commit()

    ids = topic_ids(session)
    shared = [[ids["funding"], [funding.id]], [ids["npq"], [npq.id]]]
    assert result.recipients == 8
    assert contents(session, result.send_id) == {
        **{email: shared for email in alike},
        "other@example.com": [[ids["itt"], [itt.id]]],
    }
    # Everyone considered is up to date, an empty digest too; the paused member was not.
    assert watermarks(session) == {
        email: MONDAY for email in [*alike, "other@example.com", "nothing@example.com"]
    }
    again = run(session)  # the same week: finds the send, adds nothing
    assert not again.created and again.send_id == result.send_id
    assert session.scalar(select(func.count()).select_from(Delivery)) == 8


def test_same_topics_differ_by_watermark_subscription_and_alerts(session: Session) -> None:
    recently = LAST_WEEK + timedelta(days=2, hours=12)
    add_member(session, "old@example.com", {"funding": "weekly"})
    add_member(session, "new@example.com", {"funding": "weekly"}, subscribed_at=recently)
    add_member(session, "marked@example.com", {"funding": "weekly"})
    add_member(session, "alerted@example.com", {"funding": "weekly"})
    add_member(session, "twin@example.com", {"funding": "weekly"})
    add_member(session, "ahead@example.com", {"funding": "weekly"})
    early = add_article(session, "Early", ["funding"], published_at=LAST_WEEK + timedelta(days=1))
    late = add_article(session, "Late", ["funding"], published_at=LAST_WEEK + timedelta(days=4))
    session.flush()
    member = {
        email: member_id for email, member_id in session.execute(select(Member.email, Member.id))
    }
    for email, until in [
        ("marked@example.com", LAST_WEEK + timedelta(days=2)),
        ("alerted@example.com", LAST_WEEK),
        ("twin@example.com", LAST_WEEK),
        ("ahead@example.com", MONDAY + timedelta(days=1)),
    ]:
        session.add(
            DigestWatermark(member_id=member[email], frequency=Frequency.WEEKLY, until=until)
        )
    alert = Send(kind=SendKind.ALERT, status=SendStatus.SENT, key="test-alert", article_id=late.id)
    session.add(alert)
    session.flush()
    session.add(
        Delivery(
            send_id=alert.id, member_id=member["alerted@example.com"], status=DeliveryStatus.SENT
        )
    )
    session.commit()

    result = run(session)
    session.commit()

    funding = topic_ids(session)["funding"]
    assert contents(session, result.send_id) == {
        "old@example.com": [[funding, [early.id, late.id]]],
        "new@example.com": [[funding, [late.id]]],  # since they subscribed
        "marked@example.com": [[funding, [late.id]]],  # since their watermark
        "alerted@example.com": [[funding, [early.id]]],  # the late one came as an alert
        "twin@example.com": [[funding, [early.id, late.id]]],
    }
    marks = watermarks(session)
    assert marks["ahead@example.com"] == MONDAY + timedelta(days=1)  # never moved backwards
    assert {email: marks[email] for email in marks if email != "ahead@example.com"} == {
        email: MONDAY
        for email in [
            "old@example.com",
            "new@example.com",
            "marked@example.com",
            "alerted@example.com",
            "twin@example.com",
        ]
    }

"""Alerts, digests and reminders, run in-process (newsletter.inline) on SQLite and PostgreSQL.

The worker, broker and SMTP server are exercised in test_worker.py; here the same services run
with the memory backend so every rule about who gets what can be checked on both databases.
"""

from __future__ import annotations

import email
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email import policy

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from newsletter import dispatch
from newsletter.db import session_scope
from newsletter.delivery import alerts, jobs
from newsletter.delivery.backends import memory
from newsletter.delivery.batches import run_batch
from newsletter.delivery.progress import describe_send
from newsletter.inline import inline
from newsletter.models import (
    Delivery,
    DeliveryStatus,
    DigestWatermark,
    Frequency,
    Member,
    MemberStatus,
    Priority,
    Send,
    SendStatus,
    Subscription,
)
from tests.support.delivery_data import add_article, add_member, suppress, topic_ids


@pytest.fixture(autouse=True)
def _empty_outbox() -> Iterator[None]:
    memory.clear()
    yield
    memory.clear()


def received() -> Counter[str]:
    return Counter(message.to for message in memory.outbox)


def bodies(address: str) -> list[str]:
    """The text part of every message sent to `address`, subject first."""
    found = []
    for message in memory.outbox:
        if message.to != address:
            continue
        parsed = email.message_from_bytes(message.data, policy=policy.default)
        text = parsed.get_body(preferencelist=("plain",))
        assert text is not None
        found.append(f"{parsed['Subject']}\n{text.get_content()}")
    return found


def body_of(address: str) -> str:
    (body,) = bodies(address)
    return body


def counts(send_id: int) -> dict[str, int]:
    with session_scope() as session:
        summary = describe_send(session, send_id)
    assert summary is not None
    return {status: n for status, n in summary.counts.items() if n}


def send_status(send_id: int) -> str:
    with session_scope() as session:
        return session.scalars(select(Send.status).where(Send.id == send_id)).one().value


def newsroom(session: Session) -> None:
    add_member(session, "ann@example.com", {"funding": "immediate", "npq": "weekly"})
    add_member(session, "bob@example.com", {"funding": "weekly"})
    add_member(session, "cat@example.com", {"funding": "daily", "itt": "immediate"})
    add_member(session, "dan@example.com", {"npq": "immediate"})
    add_member(
        session, "eve@example.com", {"funding": "immediate"}, status=MemberStatus.UNSUBSCRIBED
    )
    add_member(session, "fay@example.com", {"funding": "immediate"})
    suppress(session, "fay@example.com")
    add_member(session, "gil@example.com", {"funding": "immediate"}, paused=True)
    add_member(session, "hal@example.com", {"funding": "weekly"}, status=MemberStatus.PENDING)


def publish(session: Session, title: str, topics: list[str], **kwargs: object) -> int:
    article = add_article(session, title, topics, **kwargs)  # type: ignore[arg-type]
    session.commit()
    with inline():
        dispatch.article_published(article.id)
    return article.id


def alert_send(article_id: int) -> int:
    with session_scope() as session:
        return session.scalars(
            select(Send.id).where(Send.key == f"alert:article:{article_id}")
        ).one()


def test_breaking_on_funding_reaches_every_funding_subscriber_once(session: Session) -> None:
    newsroom(session)
    article_id = publish(session, "Pay award confirmed", ["funding"], priority=Priority.BREAKING)

    assert received() == {"ann@example.com": 1, "bob@example.com": 1, "cat@example.com": 1}
    send_id = alert_send(article_id)
    assert counts(send_id) == {"sent": 3}
    assert send_status(send_id) == "sent"


def test_normal_article_goes_only_to_immediate_subscribers(session: Session) -> None:
    newsroom(session)
    publish(session, "New NPQ providers", ["npq", "funding"])

    assert received() == {"ann@example.com": 1, "dan@example.com": 1}


def test_publish_batch_and_digest_twice_send_nothing_new(session: Session) -> None:
    newsroom(session)
    article_id = publish(session, "Pay award confirmed", ["funding"], priority=Priority.BREAKING)
    send_id = alert_send(article_id)
    with session_scope() as s:
        ids = list(s.scalars(select(Delivery.id).where(Delivery.send_id == send_id)))

    with inline():
        dispatch.article_published(article_id)
    report = run_batch(send_id, ids)
    as_of = datetime.now(UTC) + timedelta(minutes=1)
    with inline():
        first = jobs.digest(Frequency.WEEKLY, as_of)
        second = jobs.digest(Frequency.WEEKLY, as_of)

    assert report.claimed == 0
    assert first.created and not second.created and second.send_id == first.send_id
    # The breaking alert went to the weekly subscribers too, so their digest has nothing new.
    assert received() == {"ann@example.com": 1, "bob@example.com": 1, "cat@example.com": 1}
    assert counts(send_id) == {"sent": 3}


def test_article_without_topics_sends_nothing(session: Session) -> None:
    newsroom(session)
    article = add_article(session, "Untagged", [])
    session.commit()

    with session_scope() as s:
        result = alerts.fan_out_article(s, article.id)

    assert result.send_id is None and "has no topics" in result.reason
    assert received() == {}
    assert session.scalar(select(Send.id)) is None


def test_unsubscribe_or_suppression_after_fan_out_stops_the_email(session: Session) -> None:
    newsroom(session)
    article = add_article(session, "Pay award", ["funding"], priority=Priority.BREAKING)
    session.commit()
    with session_scope() as s:
        send_id = alerts.fan_out_article(s, article.id).send_id
    assert send_id is not None
    with session_scope() as s:
        s.execute(
            update(Member)
            .where(Member.email == "ann@example.com")
            .values(status=MemberStatus.UNSUBSCRIBED)
        )
        suppress(s, "bob@example.com")
        cat = s.scalars(select(Member.id).where(Member.email == "cat@example.com")).one()
        funding = topic_ids(s)["funding"]
        s.execute(
            delete(Subscription).where(
                Subscription.member_id == cat, Subscription.topic_id == funding
            )
        )

    with inline():
        jobs.queue_send(send_id)

    assert received() == {}
    assert counts(send_id) == {"cancelled": 2, "suppressed": 1}
    assert send_status(send_id) == "sent"


def test_weekly_digest_holds_exactly_the_right_articles_by_topic(session: Session) -> None:
    monday = datetime(2026, 11, 23, 7, tzinfo=UTC)
    last_week = monday - timedelta(days=7)
    add_member(session, "ann@example.com", {"funding": "weekly", "npq": "weekly"})
    add_member(session, "bob@example.com", {"funding": "weekly", "npq": "weekly"})
    add_member(session, "cat@example.com", {"itt": "weekly", "funding": "immediate"})
    add_member(
        session, "new@example.com", {"funding": "weekly"}, subscribed_at=monday - timedelta(days=2)
    )
    add_member(session, "old@example.com", {"careers": "weekly"})
    old = add_article(session, "Old news", ["funding"], published_at=last_week - timedelta(days=1))
    a = add_article(session, "Funding A", ["funding"], published_at=last_week + timedelta(days=1))
    b = add_article(
        session, "NPQ B", ["npq", "funding"], published_at=last_week + timedelta(days=2)
    )
    c = add_article(session, "ITT C", ["itt"], published_at=last_week + timedelta(days=3))
    d = add_article(session, "Funding D", ["funding"], published_at=monday - timedelta(days=1))
    later = add_article(session, "Next week", ["funding"], published_at=monday + timedelta(hours=1))
    ann = session.scalars(select(Member.id).where(Member.email == "ann@example.com")).one()
    session.add(DigestWatermark(member_id=ann, frequency=Frequency.WEEKLY, until=last_week))
    session.commit()

    with inline():
        run = jobs.digest(Frequency.WEEKLY, monday)
        again = jobs.digest(Frequency.WEEKLY, monday + timedelta(days=3))

    assert run.created and run.period == "2026-W48" and run.recipients == 4
    assert not again.created
    assert received() == {
        "ann@example.com": 1,
        "bob@example.com": 1,
        "cat@example.com": 1,
        "new@example.com": 1,
    }
    with session_scope() as s:
        contents = dict(
            s.execute(
                select(Member.email, Delivery.content).join(Member, Member.id == Delivery.member_id)
            ).all()
        )
    ids = topic_ids(session)
    # Ann's watermark is last week: not the old article; B once, under its first topic (NPQ).
    expected_ann = [[ids["funding"], [a.id, d.id]], [ids["npq"], [b.id]]]
    assert contents["ann@example.com"]["groups"] == expected_ann
    # Bob has no watermark: everything since he subscribed (long ago), the old article too.
    expected_bob = [[ids["funding"], [old.id, a.id, d.id]], [ids["npq"], [b.id]]]
    assert contents["bob@example.com"]["groups"] == expected_bob
    assert contents["cat@example.com"]["groups"] == [[ids["itt"], [c.id]]]
    assert contents["new@example.com"]["groups"] == [[ids["funding"], [d.id]]]
    ann_text = body_of("ann@example.com")
    assert ann_text.index("Funding A") < ann_text.index("Funding D")
    assert "Old news" not in ann_text and later.title not in ann_text
    assert "NPQ B" in ann_text


def test_digest_leaves_out_articles_already_sent_as_alerts(session: Session) -> None:
    add_member(session, "ann@example.com", {"funding": "weekly", "npq": "weekly"})
    publish(session, "Breaking funding", ["funding"], priority=Priority.BREAKING)
    add_article(session, "Quiet NPQ news", ["npq"])
    session.commit()
    memory.clear()

    with inline():
        jobs.digest(Frequency.WEEKLY, datetime.now(UTC) + timedelta(minutes=1))

    text = body_of("ann@example.com")
    assert "Quiet NPQ news" in text and "Breaking funding" not in text


def test_reminders_go_seven_and_one_day_before_once_each(session: Session) -> None:
    add_member(session, "ann@example.com", {"npq": "weekly"})
    add_member(session, "bob@example.com", {"funding": "immediate"})
    add_article(session, "NPQ applications", ["npq"], closes=date(2026, 12, 10))
    add_article(session, "Closed already", ["npq"], closes=date(2026, 12, 1))
    session.commit()

    def remind(moment: datetime) -> list[int]:
        with inline():
            return [run.days_before for run in jobs.reminders_due(moment) if run.created]

    assert remind(datetime(2026, 12, 3, 7, 59, tzinfo=UTC)) == []
    assert remind(datetime(2026, 12, 3, 8, 0, tzinfo=UTC)) == [7]  # 08:00 London in winter
    assert remind(datetime(2026, 12, 3, 9, 0, tzinfo=UTC)) == []
    assert remind(datetime(2026, 12, 9, 8, 5, tzinfo=UTC)) == [1]
    assert remind(datetime(2026, 12, 9, 9, 0, tzinfo=UTC)) == []

    assert received() == {"ann@example.com": 2}
    assert all("NPQ applications" in text for text in bodies("ann@example.com"))


def test_retry_resends_failed_only_and_never_a_sent_one(session: Session) -> None:
    newsroom(session)
    article_id = publish(session, "Pay award", ["funding"], priority=Priority.BREAKING)
    send_id = alert_send(article_id)
    with session_scope() as s:
        s.execute(
            update(Delivery)
            .where(
                Delivery.send_id == send_id,
                Delivery.member_id
                == select(Member.id).where(Member.email == "bob@example.com").scalar_subquery(),
            )
            .values(status=DeliveryStatus.FAILED)
        )
        s.execute(update(Send).where(Send.id == send_id).values(status=SendStatus.SENT))
    memory.clear()

    with inline():
        queued = jobs.retry(send_id, "test")

    assert (queued.failed, queued.deferred) == (1, 0)
    assert received() == {"bob@example.com": 1}
    assert counts(send_id) == {"sent": 3}

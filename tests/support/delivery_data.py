"""Members and published articles made straight with the models, for delivery tests."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.db import session_scope
from newsletter.delivery import alerts
from newsletter.models import (
    Article,
    ArticleStatus,
    ArticleTopic,
    DatePrecision,
    Deadline,
    DeadlineKind,
    Delivery,
    Frequency,
    Member,
    MemberStatus,
    Priority,
    Send,
    SendStatus,
    Subscription,
    Suppression,
    SuppressionReason,
    Topic,
)

_numbers = itertools.count(1)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def topic_ids(session: Session) -> dict[str, int]:
    return dict(session.execute(select(Topic.slug, Topic.id)).all())


def add_member(
    session: Session,
    email: str,
    topics: dict[str, str],
    *,
    status: MemberStatus = MemberStatus.ACTIVE,
    paused: bool = False,
    role: str = "",
    subscribed_at: datetime = LONG_AGO,
) -> Member:
    """A member with {slug: frequency} subscriptions, subscribed at `subscribed_at`."""
    ids = topic_ids(session)
    member = Member(
        email=email,
        name=email.split("@")[0].capitalize(),
        role=role,
        status=status,
        paused=paused,
        subscriptions=[
            Subscription(topic_id=ids[slug], frequency=Frequency(freq), created_at=subscribed_at)
            for slug, freq in topics.items()
        ],
    )
    session.add(member)
    session.flush()
    return member


def suppress(session: Session, email: str) -> None:
    session.add(Suppression(email=email, reason=SuppressionReason.MANUAL))
    session.flush()


def add_article(
    session: Session,
    title: str,
    topics: list[str],
    *,
    priority: Priority = Priority.NORMAL,
    published_at: datetime | None = None,
    closes: date | None = None,
) -> Article:
    """A published article with these topics assigned (first = most relevant)."""
    ids = topic_ids(session)
    number = next(_numbers)
    article = Article(
        title=title,
        summary=f"Summary of {title}.",
        body_html=f"<p>{title}</p>",
        priority=priority,
        status=ArticleStatus.PUBLISHED,
        published_at=published_at or datetime.now(UTC) - timedelta(minutes=1),
        content_hash=hashlib.sha256(f"{title}{number}".encode()).hexdigest(),
        topics=[
            ArticleTopic(topic_id=ids[slug], score=1.0, rank=rank, assigned=True)
            for rank, slug in enumerate(topics)
        ],
        deadlines=(
            [Deadline(date=closes, precision=DatePrecision.DAY, kind=DeadlineKind.CLOSES)]
            if closes
            else []
        ),
    )
    session.add(article)
    session.flush()
    return article


def fan_out_breaking(session: Session, title: str = "Pay award") -> int:
    """A breaking funding article, committed and fanned out; returns its send's id."""
    article = add_article(session, title, ["funding"], priority=Priority.BREAKING)
    session.commit()
    with session_scope() as s:
        send_id = alerts.fan_out_article(s, article.id).send_id
    assert send_id is not None
    return send_id


def statuses(send_id: int) -> dict[str, str]:
    """{email: delivery status} for one send, read in a fresh session."""
    with session_scope() as session:
        rows = session.execute(
            select(Member.email, Delivery.status)
            .join(Member, Member.id == Delivery.member_id)
            .where(Delivery.send_id == send_id)
        ).all()
    return {address: status.value for address, status in rows}


def last_weeks_links(base_url: str) -> dict[str, str]:
    """Every member's one-click link from last week's funding alert (a send already sent), by
    address, pointing at the web app at `base_url`."""
    from newsletter.audience import Audience
    from newsletter.config import get_settings
    from newsletter.delivery.fanout import create_send
    from newsletter.links import unsubscribe_url
    from newsletter.models import SendKind, SendStatus

    with session_scope() as session:
        funding = topic_ids(session)["funding"]
        send, _ = create_send(
            session,
            kind=SendKind.ALERT,
            key="alert:last-week",
            audience=Audience(topic_ids=(funding,)),
            status=SendStatus.SENT,
        )
        members = session.execute(select(Member.id, Member.email, Member.token_version)).all()
    ours = get_settings().BASE_URL
    return {
        email: unsubscribe_url(member_id, send, version).replace(ours, base_url)
        for member_id, email, version in members
    }


def send_of(key: str) -> int | None:
    with session_scope() as session:
        return session.scalar(select(Send.id).where(Send.key == key))


def send_status(send_id: int) -> SendStatus:
    with session_scope() as session:
        return session.scalars(select(Send.status).where(Send.id == send_id)).one()

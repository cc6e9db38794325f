"""The numbers on the staff dashboard: emails sent per day and topic, subscribers per topic."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from newsletter import recent
from newsletter.audience import Audience
from newsletter.config import get_settings
from newsletter.models import (
    ArticleTopic,
    Delivery,
    DeliveryStatus,
    Member,
    MemberStatus,
    Send,
    SendKind,
    Subscription,
    Topic,
    utcnow,
)
from newsletter.topics import topic_names

OTHER = "Several topics"
MEMBER_MAIL = "Members' own emails"


@dataclass(frozen=True)
class SentPerDay:
    days: list[date]  # days in the association's time zone, oldest first
    series: list[tuple[str, list[int]]]  # (label, count per day), busiest first
    total: int


def sent_per_day(
    session: Session, days: int = 28, now: datetime | None = None, zone: ZoneInfo | None = None
) -> SentPerDay:
    """Emails sent per day in `zone` (default NEWSLETTER_TIMEZONE), each send counted under its
    main topic. A day runs from local midnight to local midnight (23 or 25 hours when the
    clocks change), so an email sent at 00:30 in London in summer counts on its London day."""
    zone = zone or ZoneInfo(get_settings().TIMEZONE)
    today = (now or utcnow()).astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    local_days = [first + timedelta(days=i) for i in range(days)]
    midnights = [
        datetime.combine(day, time(), tzinfo=zone) for day in [*local_days, today + timedelta(1)]
    ]
    # The day's index, by comparing with each local midnight (as UTC instants): the same SQL
    # on SQLite and PostgreSQL, with no time zone database needed in either.
    day = case(*((Delivery.sent_at < midnights[i + 1], i) for i in range(days)))
    rows = session.execute(
        select(Delivery.send_id, day, func.count())
        .where(
            Delivery.status == DeliveryStatus.SENT,
            Delivery.sent_at >= midnights[0],
            Delivery.sent_at < midnights[-1],
        )
        .group_by(Delivery.send_id, day)
    ).all()
    labels = send_labels(session, {send_id for send_id, _, _ in rows})
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * days)
    for send_id, index, count in rows:
        counts[labels[send_id]][index] += count
    series = sorted(counts.items(), key=lambda item: -sum(item[1]))
    return SentPerDay(local_days, series, sum(sum(v) for _, v in series))


def send_labels(session: Session, send_ids: set[int]) -> dict[int, str]:
    """A short name for what each send was about: its topic, or the kind of digest."""
    if not send_ids:
        return {}
    names = topic_names(session)
    labels: dict[int, str] = {}
    for send in session.scalars(select(Send).where(Send.id.in_(send_ids))):
        audience = Audience.from_json(send.audience or {})
        if send.kind == SendKind.MEMBER_MAIL:
            labels[send.id] = MEMBER_MAIL
            continue
        if send.kind == SendKind.DIGEST:
            frequency = audience.frequencies[0].value if audience.frequencies else ""
            labels[send.id] = f"{frequency.capitalize()} digest".strip()
            continue
        topic_ids = list(audience.topic_ids or ())
        if send.article_id is not None:
            topic_ids = _article_topics(session, send.article_id) or topic_ids
            topic_ids = topic_ids[:1]
        labels[send.id] = names.get(topic_ids[0], OTHER) if len(topic_ids) == 1 else OTHER
    return labels


def _article_topics(session: Session, article_id: int) -> list[int]:
    return list(
        session.scalars(
            select(ArticleTopic.topic_id)
            .where(ArticleTopic.article_id == article_id, ArticleTopic.assigned.is_(True))
            .order_by(ArticleTopic.rank)
        )
    )


@dataclass(frozen=True)
class TopicGrowth:
    name: str
    slug: str
    now: int
    weekly: list[int]  # subscribers at the end of each of the last weeks, oldest first

    @property
    def gained(self) -> int:
        return self.now - self.weekly[0] if self.weekly else 0


def subscriber_growth(
    session: Session, weeks: int = 8, now: datetime | None = None
) -> list[TopicGrowth]:
    """Active members per topic now and at the end of each recent week.

    Counted from when today's subscriptions were made: people who left are not in the past
    counts either, so the line shows growth among those still here.
    """
    now = now or utcnow()
    ends = [now - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    # One pass over the subscriptions for all the weeks, not one a week.
    by_week = [func.count(case((Subscription.created_at <= end, 1))) for end in ends]
    rows = session.execute(
        select(Subscription.topic_id, *by_week)
        .join(Member, Member.id == Subscription.member_id)
        .where(Member.status == MemberStatus.ACTIVE, Subscription.created_at <= now)
        .group_by(Subscription.topic_id)
    )
    counts: dict[int, list[int]] = defaultdict(lambda: [0] * weeks)
    for topic_id, *weekly in rows:
        counts[topic_id] = list(weekly)
    topics = session.scalars(select(Topic).order_by(Topic.name))
    return [TopicGrowth(t.name, t.slug, counts[t.id][-1], counts[t.id]) for t in topics]


def member_totals(session: Session) -> dict[str, Any]:
    rows = session.execute(select(Member.status, func.count()).group_by(Member.status))
    totals = {MemberStatus(status).value: count for status, count in rows}
    paused = session.scalar(
        select(func.count())
        .select_from(Member)
        .where(Member.paused.is_(True), Member.status == MemberStatus.ACTIVE)
    )
    return {"by_status": totals, "paused": paused or 0}


# The dashboard's figures span weeks: at 100,000 members they take about a second to count,
# and thirty staff on the dashboard during a big send asked for them every few seconds.
FIGURES_REUSE_SECONDS = 30.0


@dataclass(frozen=True)
class DashboardFigures:
    sent: SentPerDay
    growth: list[TopicGrowth]
    members: dict[str, Any]


def for_dashboard(session: Session) -> DashboardFigures:
    """The dashboard's figures; a big association's may be up to FIGURES_REUSE_SECONDS old
    (ADR 0025)."""
    kept = recent.recent(session, "dashboard figures", FIGURES_REUSE_SECONDS)
    if isinstance(kept, DashboardFigures):
        return kept
    members = member_totals(session)
    figures = DashboardFigures(sent_per_day(session), subscriber_growth(session), members)
    recent.keep(session, "dashboard figures", figures, sum(members["by_status"].values()))
    return figures

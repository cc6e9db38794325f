"""Digest runs: per member, the articles of their topics since their last digest, once a period.

A run is keyed by frequency and period ("digest:weekly:2026-W48"), so a second run finds the
first and adds nothing. Members are streamed in chunks; each chunk's Delivery rows (holding the
member's article ids, so a retry resends the same digest) and watermarks are written together
in the run's transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Integer, func, literal, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from newsletter.audience import (
    DigestArticle,
    digest_audience,
    digest_content,
    digest_groups,
    digest_starts,
)
from newsletter.config import Settings
from newsletter.delivery import ledger
from newsletter.delivery.fanout import (
    add_deliveries,
    create_send,
    insert_for,
    json_rows,
    may_receive,
)
from newsletter.models import (
    Article,
    ArticleStatus,
    ArticleTopic,
    Delivery,
    DeliveryStatus,
    DigestWatermark,
    Frequency,
    Member,
    Send,
    SendKind,
    Subscription,
    Topic,
    UTCDateTime,
)
from newsletter.scheduling import (
    DIGEST_FREQUENCIES,
    SchedulingError,
    digest_key,
    digest_period,
    latest_digest_due,
)

CHUNK = 1000

# What one member's digest depends on besides the run's articles: topic starts, alerts had.
DigestInputs = tuple[frozenset[tuple[int, datetime]], frozenset[int]]


@dataclass(frozen=True)
class DigestRun:
    send_id: int
    created: bool
    recipients: int
    period: str


def run_digest(
    session: Session, frequency: Frequency, now: datetime, settings: Settings
) -> DigestRun:
    if frequency not in DIGEST_FREQUENCIES:
        raise SchedulingError(f"there is no {frequency.value} digest (daily or weekly)")
    tz = ZoneInfo(settings.TIMEZONE)
    period = digest_period(frequency, now, tz)
    send_id, created = create_send(
        session,
        kind=SendKind.DIGEST,
        key=digest_key(frequency, now, tz),
        audience=digest_audience(frequency),
        now=now,
        subject=f"Your {frequency.value} digest ({period})",
    )
    if not created:
        return DigestRun(send_id, False, 0, period)
    articles = candidate_articles(session, frequency, now)
    topic_order = list(session.scalars(select(Topic.id).order_by(Topic.slug)))
    recipients = 0
    for members in member_chunks(session, frequency):
        rows = compose_chunk(session, frequency, members, articles, topic_order, now)
        add_deliveries(session, send_id, rows)
        advance_watermarks(session, frequency, members, now)
        recipients += len(rows)
    ledger.complete_sends(session, now, [send_id])
    return DigestRun(send_id, True, recipients, period)


def due_digest(
    session: Session, frequency: Frequency, now: datetime, settings: Settings
) -> datetime | None:
    """When the digest beat should make now fell due (it is made as of then), or None.

    Beat asks every minute (a crontab entry fires once, and a run killed half way, a beat that
    was down or a clock that jumped went without): see scheduling.latest_digest_due.
    """
    tz = ZoneInfo(settings.TIMEZONE)
    due = latest_digest_due(
        frequency, now, tz, settings.DIGEST_HOUR, settings.WEEKLY_DIGEST_WEEKDAY
    )
    made = session.scalar(select(Send.id).where(Send.key == digest_key(frequency, due, tz)))
    return None if made is not None else due


def candidate_articles(
    session: Session, frequency: Frequency, until: datetime
) -> list[DigestArticle]:
    """Published articles any member of this frequency might still be owed."""
    floor = session.scalar(
        select(func.min(DigestWatermark.until)).where(DigestWatermark.frequency == frequency)
    )
    first = session.scalar(
        select(func.min(Subscription.created_at)).where(Subscription.frequency == frequency)
    )
    starts = [moment for moment in (floor, first) if moment is not None]
    if not starts:
        return []
    query = (
        select(Article.id, Article.published_at)
        .where(
            Article.status == ArticleStatus.PUBLISHED,
            Article.published_at > min(starts),
            Article.published_at <= until,
        )
        .order_by(Article.published_at, Article.id)
    )
    found = session.execute(query).all()
    topics: dict[int, list[int]] = defaultdict(list)
    for article_id, topic_id in session.execute(
        select(ArticleTopic.article_id, ArticleTopic.topic_id)
        .where(ArticleTopic.article_id.in_([a.id for a in found]), ArticleTopic.assigned.is_(True))
        .order_by(ArticleTopic.article_id, ArticleTopic.rank)
    ):
        topics[article_id].append(topic_id)
    return [DigestArticle(a.id, a.published_at, tuple(topics[a.id])) for a in found if topics[a.id]]


def member_chunks(session: Session, frequency: Frequency) -> Any:
    """Ids of members who may receive mail and take some topic at this frequency, in chunks."""
    last = 0
    while True:
        ids = list(
            session.scalars(
                select(Member.id)
                .where(
                    Member.id > last,
                    may_receive(),
                    # The repeated bound lets PostgreSQL start each chunk where the last ended
                    # instead of rescanning subscriptions from the start (bench/: 105 -> 1 ms).
                    select(Subscription.id)
                    .where(
                        Subscription.member_id == Member.id,
                        Subscription.member_id > last,
                        Subscription.frequency == frequency,
                    )
                    .exists(),
                )
                .order_by(Member.id)
                .limit(CHUNK)
            )
        )
        if not ids:
            return
        yield ids
        last = ids[-1]


def compose_chunk(
    session: Session,
    frequency: Frequency,
    members: Sequence[int],
    articles: Sequence[DigestArticle],
    topic_order: Sequence[int],
    until: datetime,
) -> list[tuple[int, dict[str, Any]]]:
    """(member id, content) for each member of the chunk (ids in order) whose digest is not
    empty."""
    if not articles:
        return []
    subscribed: dict[int, dict[int, datetime]] = defaultdict(dict)
    for member_id, topic_id, created_at in session.execute(
        select(Subscription.member_id, Subscription.topic_id, Subscription.created_at).where(
            in_range(Subscription.member_id, members),
            Subscription.frequency == frequency,
        )
    ):
        subscribed[member_id][topic_id] = created_at
    watermarks = dict(
        session.execute(
            select(DigestWatermark.member_id, DigestWatermark.until).where(
                in_range(DigestWatermark.member_id, members),
                DigestWatermark.frequency == frequency,
            )
        ).all()
    )
    alerted = already_alerted(session, members, [a.id for a in articles])
    # Members mostly share their topics, watermark and alerts: a chunk holds few distinct digests.
    contents: dict[DigestInputs, dict[str, Any] | None] = {}
    rows = []
    for member_id in members:
        since = subscribed[member_id]
        watermark = watermarks.get(member_id)
        seen = frozenset(alerted.get(member_id, ()))
        key = (digest_starts(since, watermark), seen)
        if key not in contents:
            groups = digest_groups(
                since,
                articles,
                watermark=watermark,
                until=until,
                already_alerted=set(seen),
                topic_order=topic_order,
            )
            contents[key] = digest_content(groups) if groups else None
        content = contents[key]
        if content is not None:
            rows.append((member_id, content))
    return rows


def already_alerted(
    session: Session, members: Sequence[int], article_ids: Sequence[int]
) -> dict[int, set[int]]:
    """Which of these articles each member has already had as an alert."""
    found: dict[int, set[int]] = defaultdict(set)
    for member_id, article_id in session.execute(
        select(Delivery.member_id, Send.article_id)
        .join(Send, Send.id == Delivery.send_id)
        .where(
            Send.kind == SendKind.ALERT,
            Send.article_id.in_(article_ids),
            in_range(Delivery.member_id, members),
            Delivery.status == DeliveryStatus.SENT,
        )
    ):
        found[member_id].add(article_id)
    return found


def in_range(column: InstrumentedAttribute[int], members: Sequence[int]) -> ColumnElement[bool]:
    """The rows of the chunk's id range (member_chunks gives ids in order); those of members in
    between who are not in the chunk come too, and the caller ignores them.

    A range is one index scan whatever the statistics say. On PostgreSQL a list of 1,000 ids
    cost 4-9 ms a statement; `= ANY(array)` was quick until a process's second run (psycopg
    keeps a generic plan) read all of digest_watermark for each chunk, the table's statistics
    saying it was empty: ~50 ms a chunk at 100,000 members.
    """
    return column.between(members[0], members[-1])


def advance_watermarks(
    session: Session, frequency: Frequency, members: Sequence[int], until: datetime
) -> None:
    """Every member considered has had their digest up to `until` (never moved backwards)."""
    given = json_rows(session, [{"member_id": m} for m in members], member_id=Integer())
    values = select(
        given.c.member_id, literal(frequency.value), literal(until, UTCDateTime())
    ).where(true())  # without a WHERE, SQLite parses ON CONFLICT's ON as a join's
    statement = insert_for(session, DigestWatermark).from_select(
        ["member_id", "frequency", "until"], values
    )
    table = DigestWatermark.__table__
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["member_id", "frequency"],
            set_={"until": statement.excluded.until},
            where=statement.excluded.until > table.c.until,
        )
    )

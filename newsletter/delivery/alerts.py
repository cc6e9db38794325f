"""Alerts: an article has been published; write its send and the Delivery row of each recipient.

A member a digest has already carried the article to (its fan-out ran late) is left out: one
article reaches a member once (ADR 0011). The rows are written a chunk of members at a time,
each chunk committed and queued as it is written (streaming.py, ADR 0023).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from newsletter import send_windows
from newsletter.audience import Audience, alert_audience
from newsletter.config import Settings, get_settings
from newsletter.delivery import history, streaming
from newsletter.delivery.fanout import add_members, audience_chunks, create_send
from newsletter.delivery.streaming import Committed
from newsletter.models import (
    Article,
    ArticleStatus,
    ArticleTopic,
    Priority,
    Send,
    SendKind,
    SendStatus,
    utcnow,
)

# How far back the recovery sweep looks for an article whose alert was never made.
LOST_FAN_OUT_WINDOW = timedelta(days=1)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FanOut:
    send_id: int | None
    created: bool
    recipients: int
    reason: str = ""
    resumed: bool = False  # it went on with a fan-out that had stopped half way


def alert_key(article_id: int) -> str:
    return f"alert:article:{article_id}"


def assigned_topic_ids(session: Session, article_id: int) -> list[int]:
    return list(
        session.scalars(
            select(ArticleTopic.topic_id)
            .where(ArticleTopic.article_id == article_id, ArticleTopic.assigned.is_(True))
            .order_by(ArticleTopic.rank)
        )
    )


def fan_out_article(
    session: Session,
    article_id: int,
    now: datetime | None = None,
    settings: Settings | None = None,
    committed: Committed = streaming.in_one_go,
) -> FanOut:
    """Create the article's alert send once; a second call finds it and adds nobody, or goes on
    with its fan-out if that stopped half way. `committed` commits each chunk of rows.

    A normal alert published outside the send window is held: its send is scheduled for when
    the window next opens, and beat's check of due sends starts it then (ADR 0021)."""
    now = now or utcnow()
    settings = settings or get_settings()
    history.serialise(session, exclusive=False)
    article = session.get(Article, article_id)
    if article is None or article.status != ArticleStatus.PUBLISHED:
        return FanOut(None, False, 0, f"article {article_id} is not published; nothing sent")
    topic_ids = assigned_topic_ids(session, article_id)
    if not topic_ids:
        log.warning("article %s has no topics; no alert was sent", article_id)
        return FanOut(None, False, 0, f"article {article_id} has no topics; nothing sent")
    audience = alert_audience(article.priority, topic_ids)
    held_until = send_windows.hold_until(settings, now)
    if article.priority == Priority.NORMAL and held_until is not None:
        return _hold(session, article, audience, held_until, now)
    send_id, created = create_send(
        session,
        kind=SendKind.ALERT,
        key=alert_key(article_id),
        audience=audience,
        now=now,
        subject=article.title[:500],
        article_id=article_id,
        fanout_progress_at=utcnow(),
    )
    after = 0 if created else streaming.resume(session, send_id, committed)
    if after is None:
        return FanOut(send_id, False, 0, "this article's alert was already sent")
    published_at = article.published_at
    assert published_at is not None

    def write(members: Sequence[int]) -> list[int]:
        # Read for each chunk, under the lock: a digest may have carried the article to some
        # of these members since the last chunk was written.
        had = set(history.members_who_had(session, article_id, published_at, members))
        return add_members(session, send_id, [m for m in members if m not in had])

    chunks = audience_chunks(session, audience, settings.FANOUT_CHUNK, after)
    recipients = streaming.write_chunks(session, send_id, chunks, write, committed, exclusive=False)
    return FanOut(send_id, created, recipients, resumed=not created)


def _hold(
    session: Session, article: Article, audience: Audience, until: datetime, now: datetime
) -> FanOut:
    send_id, created = create_send(
        session,
        kind=SendKind.ALERT,
        key=alert_key(article.id),
        audience=audience,
        status=SendStatus.SCHEDULED,
        now=now,
        subject=article.title[:500],
        article_id=article.id,
        scheduled_at=until,
        held=True,
    )
    if not created:
        return FanOut(send_id, False, 0, "this article's alert was already sent")
    return FanOut(send_id, True, 0, f"held for the send window until {until.isoformat()}")


def leave_out_for(session: Session, send: Send) -> set[int]:
    """Members an alert started later than its article's publication must leave out: those a
    digest (or another email) has carried the article to meanwhile."""
    article = session.get(Article, send.article_id) if send.article_id else None
    if send.kind != SendKind.ALERT or article is None or article.published_at is None:
        return set()
    return set(history.members_who_had(session, article.id, article.published_at))


def lost_fan_outs(session: Session, now: datetime, lost_after: timedelta) -> list[int]:
    """Articles published more than `lost_after` ago (and within LOST_FAN_OUT_WINDOW of that)
    whose alert was never made: their fan-out was killed before it committed, or could not
    be queued. Each has topics, so fan_out_article would have made its send."""
    latest = now - lost_after
    query = (
        select(Article.id)
        .where(
            Article.status == ArticleStatus.PUBLISHED,
            Article.published_at <= latest,
            Article.published_at > latest - LOST_FAN_OUT_WINDOW,
            exists().where(ArticleTopic.article_id == Article.id, ArticleTopic.assigned.is_(True)),
            ~exists().where(Send.article_id == Article.id, Send.kind == SendKind.ALERT),
        )
        .order_by(Article.id)
    )
    return list(session.scalars(query))

"""Alerts: an article has been published; write its send and the Delivery row of each recipient.

A member a digest has already carried the article to (its fan-out ran late) is left out: one
article reaches a member once (ADR 0011).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.audience import alert_audience
from newsletter.delivery import history, ledger
from newsletter.delivery.fanout import add_audience, create_send
from newsletter.models import Article, ArticleStatus, ArticleTopic, SendKind, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FanOut:
    send_id: int | None
    created: bool
    recipients: int
    reason: str = ""


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


def fan_out_article(session: Session, article_id: int, now: datetime | None = None) -> FanOut:
    """Create the article's alert send once; a second call finds it and adds nobody."""
    now = now or utcnow()
    history.serialise(session, exclusive=False)
    article = session.get(Article, article_id)
    if article is None or article.status != ArticleStatus.PUBLISHED:
        return FanOut(None, False, 0, f"article {article_id} is not published; nothing sent")
    topic_ids = assigned_topic_ids(session, article_id)
    if not topic_ids:
        log.warning("article %s has no topics; no alert was sent", article_id)
        return FanOut(None, False, 0, f"article {article_id} has no topics; nothing sent")
    audience = alert_audience(article.priority, topic_ids)
    send_id, created = create_send(
        session,
        kind=SendKind.ALERT,
        key=alert_key(article_id),
        audience=audience,
        now=now,
        subject=article.title[:500],
        article_id=article_id,
    )
    if not created:
        return FanOut(send_id, False, 0, "this article's alert was already sent")
    assert article.published_at is not None
    had = history.members_who_had(session, article_id, article.published_at)
    recipients = add_audience(session, send_id, audience, now, leave_out=had)
    ledger.complete_sends(session, now, [send_id])  # finishes at once when nobody is due
    return FanOut(send_id, True, recipients)

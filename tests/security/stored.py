"""What the database holds about members, as one comparable value: to prove a refused request
wrote nothing, compare it before and after."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload

from newsletter.db import session_scope
from newsletter.models import Article, Delivery, Member, Suppression, ThrottleHit


def members(db_url: str) -> frozenset[tuple[Any, ...]]:
    with session_scope(db_url) as session:
        found = session.scalars(select(Member).options(selectinload(Member.subscriptions)))
        return frozenset(
            (
                m.email,
                m.name,
                m.role,
                m.status.value,
                m.paused,
                m.token_version,
                frozenset((s.topic_id, s.frequency.value) for s in m.subscriptions),
            )
            for m in found
        )


def everything(db_url: str) -> tuple[Any, ...]:
    """Members, articles, deliveries and suppressions."""
    with session_scope(db_url) as session:
        articles = frozenset(session.execute(select(Article.id, Article.status, Article.title)))
        deliveries = frozenset(session.execute(select(Delivery.id, Delivery.status)))
        suppressed = frozenset(session.scalars(select(Suppression.email)))
    return members(db_url), articles, deliveries, suppressed


def forget_rate_limits(db_url: str) -> None:
    """Each generated request starts with a clean allowance, as if from a new visitor."""
    with session_scope(db_url) as session:
        session.execute(delete(ThrottleHit))

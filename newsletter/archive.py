"""The public archive of published articles: newest first, filtered by topics and dates.

A digest that shows only part of its articles links here with its topics and the dates its
articles span (`/articles?topic=funding&topic=npq&since=2026-11-23&until=2026-11-30`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from newsletter.models import Article, ArticleStatus, ArticleTopic, Topic


@dataclass(frozen=True)
class ArchiveFilter:
    topic_ids: Sequence[int] | None = None  # None: every topic
    since: date | None = None  # first published on or after
    until: date | None = None  # first published on or before


def published_articles(
    session: Session, wanted: ArchiveFilter, offset: int, limit: int
) -> tuple[list[Article], int]:
    """A page of published articles matching `wanted`, and how many match in all."""
    query = select(Article).where(Article.status == ArticleStatus.PUBLISHED)
    if wanted.topic_ids is not None:
        query = query.where(
            Article.id.in_(
                select(ArticleTopic.article_id).where(
                    ArticleTopic.topic_id.in_(wanted.topic_ids), ArticleTopic.assigned.is_(True)
                )
            )
        )
    if wanted.since is not None:
        query = query.where(Article.first_published >= wanted.since)
    if wanted.until is not None:
        query = query.where(Article.first_published <= wanted.until)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(
        query.order_by(Article.published_at.desc(), Article.id.desc()).offset(offset).limit(limit)
    )
    return list(items), total


def topics_by_slug(session: Session, slugs: Sequence[str]) -> list[Topic]:
    """The topics of these slugs that exist, in slug order."""
    return list(session.scalars(select(Topic).where(Topic.slug.in_(slugs)).order_by(Topic.slug)))


def published_article(session: Session, article_id: int) -> Article | None:
    """A published article with its topics; None if there is none, or it was withdrawn."""
    return session.scalar(
        select(Article)
        .where(Article.id == article_id, Article.status == ArticleStatus.PUBLISHED)
        .options(selectinload(Article.topics).selectinload(ArticleTopic.topic))
    )

"""Finding articles for the console and the API: one with everything shown about it, or a
page of them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from newsletter.models import Article, ArticleStatus, ArticleTopic
from newsletter.paging import Page, fetch_page


def article_with_details(session: Session, article_id: int) -> Article | None:
    """The article with its topics (and their scores) and its dates, loaded in one go."""
    return session.scalar(
        select(Article)
        .where(Article.id == article_id)
        .options(
            selectinload(Article.topics).selectinload(ArticleTopic.topic),
            selectinload(Article.deadlines),
        )
    )


def page_of_articles(
    session: Session, status: ArticleStatus | None, page: int, page_size: int
) -> Page[Article]:
    """Articles (of `status` if given), newest first, with their topics."""
    query = select(Article)
    if status is not None:
        query = query.where(Article.status == status)
    query = query.options(selectinload(Article.topics).selectinload(ArticleTopic.topic)).order_by(
        Article.created_at.desc(), Article.id.desc()
    )
    return fetch_page(session, query, page, page_size)

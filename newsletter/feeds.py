"""Atom feeds of published articles: one for everything and one per topic (feedgen writes
them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from feedgen.feed import FeedGenerator
from sqlalchemy.orm import Session

from newsletter.archive import ArchiveFilter, published_articles
from newsletter.config import get_settings
from newsletter.models import Article, Topic
from newsletter.rendering.headers import parse_sender
from newsletter.rendering.views import article_url

FEED_SIZE = 50  # the newest articles a feed holds


def atom_feed(session: Session, topic: Topic | None = None) -> bytes:
    """The newest published articles, of one topic or of all."""
    wanted = ArchiveFilter([topic.id] if topic is not None else None)
    articles, _ = published_articles(session, wanted, 0, FEED_SIZE)
    base = get_settings().BASE_URL
    if topic is None:
        return atom_bytes(articles, "All articles", f"{base}/feeds/atom.xml", f"{base}/articles")
    return atom_bytes(
        articles,
        topic.name,
        f"{base}/feeds/{topic.slug}/atom.xml",
        f"{base}/topics/{topic.slug}",
        subtitle=topic.description,
    )


def atom_bytes(
    articles: Sequence[Article], title: str, self_url: str, page_url: str, subtitle: str = ""
) -> bytes:
    feed = FeedGenerator()
    feed.id(self_url)
    site = parse_sender(get_settings().FROM_ADDRESS).name
    feed.title(f"{title} · {site}" if site else title)
    feed.link(href=self_url, rel="self")
    feed.link(href=page_url, rel="alternate")
    if subtitle:
        feed.subtitle(subtitle)
    feed.language("en-GB")
    newest = max((_published(a) for a in articles), default=datetime(2000, 1, 1, tzinfo=UTC))
    feed.updated(newest)
    # feedgen puts the entry added last first; add the oldest first so the newest leads.
    for article in reversed(articles):
        entry = feed.add_entry()
        url = article_url(article.id)
        entry.id(url)
        entry.title(article.title)
        entry.link(href=url)
        entry.published(_published(article))
        entry.updated(_published(article))
        if article.summary:
            entry.summary(article.summary)
        for link in article.topics:
            if link.assigned:
                entry.category(term=link.topic.slug, label=link.topic.name)
    return bytes(feed.atom_str(pretty=True))


def _published(article: Article) -> datetime:
    return article.published_at or article.created_at

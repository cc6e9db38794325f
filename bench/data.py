"""The benchmark's data: N members over the five topics (all 31 topic sets), a weekly digest of
8 articles, written straight into a migrated database, and the same digests prepared in memory
for the runs that have no database (the limit, the naive way).

Every article is tagged with all five topics (a different one first), so every member's digest
holds all 8 articles, grouped under the member's own topics: 31 content variants, ~27 KB each.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Engine, insert, select

from newsletter.audience import DigestArticle, History, digest_groups
from newsletter.models import (
    Article,
    ArticleStatus,
    ArticleTopic,
    Deadline,
    Frequency,
    Member,
    MemberStatus,
    Priority,
    Subscription,
    Topic,
)
from newsletter.rendering import ArticleView, PreparedEmail, Recipient, TopicGroup, prepare_digest
from newsletter.rendering.samples import TOPIC_NAMES, sample_articles
from newsletter.rendering.views import article_url

# The seeded topics (migration 0002), in seed order: their ids are 1..5 in a fresh database.
TOPICS = {
    "assessment": "Assessment",
    "funding": "Funding",
    "itt": "Initial teacher training",
    "careers": "Careers",
    "npq": "NPQ",
}
SLUGS = list(TOPICS)
SAMPLE_SLUGS = {name: slug for slug, name in TOPIC_NAMES.items()}  # "ITT" -> "itt"
TOPIC_SETS = [
    frozenset(combo) for k in range(1, 6) for combo in itertools.combinations(SLUGS, k)
]  # the 31 non-empty sets
NAMES = ["Ann Archer", "Bob Baker", "Siân Evans", "Zoë O'Brien", "Chidi Okafor", "Mei Lin"]
ROLES = ["SENCO", "ALENCO", "Phase leader", "Subject leader"]
SUBSCRIBED_AT = datetime(2020, 1, 1, tzinfo=UTC)
SEND_ID = 1  # the digest's send in a fresh database; used in the in-memory rendering
CHUNK = 5000
# Appended to each sample summary so that a message weighs ~27 KB, like the yardstick.
PADDING = " Our briefing sets out what changes for middle leaders, with examples from schools."


@dataclass(frozen=True)
class BenchArticle:
    view: ArticleView
    slugs: tuple[str, ...]  # all five topics, most relevant first
    published_at: datetime


def member_topics(index: int) -> frozenset[str]:
    return TOPIC_SETS[index % len(TOPIC_SETS)]


def recipient(index: int) -> Recipient:
    """Member `index` (1-based, = its id in a fresh database)."""
    return Recipient(index, member_email(index), NAMES[index % len(NAMES)], 1)


def member_email(index: int) -> str:
    return f"member{index:06d}@example.com"


def articles(now: datetime) -> list[BenchArticle]:
    """The week's 8 articles, published during the last day before `now`."""
    found = []
    for number, sample in enumerate(sample_articles(), 1):
        primary = SAMPLE_SLUGS[sample.topics[0]]
        slugs = (primary, *(s for s in SLUGS if s != primary))
        view = replace(
            sample,
            summary=(sample.summary or sample.title + ".") + PADDING,
            url=article_url(number),
            topics=[TOPICS[s] for s in slugs],
        )
        published = now - timedelta(hours=20) + timedelta(minutes=10 * number)
        found.append(BenchArticle(view, slugs, published))
    return found


def groups_for(topics: frozenset[str], bench_articles: list[BenchArticle]) -> list[TopicGroup]:
    """A member's digest groups, chosen by the product's own rule (audience.digest_groups)."""
    ids = {slug: number for number, slug in enumerate(SLUGS, 1)}
    by_id = {a.view.id: a.view for a in bench_articles}
    chosen = digest_groups(
        {ids[s]: SUBSCRIBED_AT for s in topics},
        [
            DigestArticle(a.view.id, a.published_at, tuple(ids[s] for s in a.slugs))
            for a in bench_articles
        ],
        watermark=None,
        until=max(a.published_at for a in bench_articles),
        history=History(),
        topic_order=[ids[s] for s in sorted(SLUGS)],
    )
    return [
        TopicGroup(SLUGS[topic - 1], TOPICS[SLUGS[topic - 1]], [by_id[i] for i in article_ids])
        for topic, article_ids in chosen
    ]


def prepared_digests(now: datetime) -> dict[frozenset[str], PreparedEmail]:
    """The digest of each of the 31 topic sets, rendered and inlined once (like a worker does)."""
    found = articles(now)
    return {
        topics: prepare_digest("weekly", groups_for(topics, found), send_id=SEND_ID)
        for topics in TOPIC_SETS
    }


# Writing it into a database -------------------------------------------------------------------


def populate(engine: Engine, members: int, now: datetime) -> None:
    """Members 1..N with weekly subscriptions, and the week's articles, in a fresh database."""
    with engine.begin() as connection:
        topic_ids = dict(connection.execute(select(Topic.slug, Topic.id)).all())
        for start, stop in _chunks(members):
            connection.execute(insert(Member), [_member(i, now) for i in range(start, stop)])
            connection.execute(
                insert(Subscription),
                [
                    {
                        "member_id": i,
                        "topic_id": topic_ids[slug],
                        "frequency": Frequency.WEEKLY,
                        "created_at": SUBSCRIBED_AT,
                    }
                    for i in range(start, stop)
                    for slug in sorted(member_topics(i))
                ],
            )
        for item in articles(now):
            _add_article(connection, item, topic_ids, now)


def _chunks(members: int) -> Iterator[tuple[int, int]]:
    for start in range(1, members + 1, CHUNK):
        yield start, min(start + CHUNK, members + 1)


def _member(index: int, now: datetime) -> dict[str, object]:
    person = recipient(index)
    return {
        "id": index,
        "email": person.email,
        "name": person.name,
        "role": ROLES[index % len(ROLES)],
        "status": MemberStatus.ACTIVE,
        "paused": False,
        "token_version": 1,
        "created_at": SUBSCRIBED_AT,
        "updated_at": now,
        "confirmed_at": SUBSCRIBED_AT,
    }


def _add_article(
    connection: Connection, item: BenchArticle, topic_ids: dict[str, int], now: datetime
) -> None:
    view = item.view
    connection.execute(
        insert(Article).values(
            id=view.id,
            title=view.title,
            summary=view.summary,
            body_html=view.body_html,
            source="",
            first_published=view.first_published or date.today(),
            published_at=item.published_at,
            priority=Priority(view.priority),
            suggested_priority=Priority(view.priority),
            priority_reason="",
            status=ArticleStatus.PUBLISHED,
            content_hash=hashlib.sha256(f"bench-{view.id}".encode()).hexdigest(),
            created_at=now,
            source_format="",
            raw_text="",
        )
    )
    connection.execute(
        insert(ArticleTopic),
        [
            {
                "article_id": view.id,
                "topic_id": topic_ids[slug],
                "score": 1.0 - rank / 10,
                "rank": rank,
                "assigned": True,
                "manual": False,
                "evidence": [],
            }
            for rank, slug in enumerate(item.slugs)
        ],
    )
    for deadline in view.deadlines:
        connection.execute(
            insert(Deadline).values(
                article_id=view.id,
                date=deadline.date,
                precision=deadline.precision,
                kind=deadline.kind,
                text=deadline.text,
            )
        )

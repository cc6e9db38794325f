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
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    String,
    Subquery,
    case,
    cast,
    func,
    insert,
    literal,
    select,
    union_all,
)

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
CHUNK = 100_000  # members written per statement
# Members beyond the N, whose one-click links the web load uses (bench/web_load.py).
WEB_MEMBERS = 5_000
WEB_TOPIC = "funding"
# The breaking alert published after the digest goes to every member who follows this topic.
ALERT_TOPIC = "assessment"
ALERT_ARTICLE_ID = 100  # after the week's articles
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
    """Members 1..N with weekly subscriptions, and the week's articles, in a fresh database.

    Set-based: each chunk of members is one INSERT ... SELECT over a series of numbers (and one
    for their subscriptions), so a million members take seconds, not a million ORM objects."""
    with engine.begin() as connection:
        topic_ids = dict(connection.execute(select(Topic.slug, Topic.id)).all())
        for start, stop in _chunks(members):
            insert_members(connection, start, stop - 1, now)
            _insert_subscriptions(connection, start, stop - 1, topic_ids)
        for item in articles(now):
            _add_article(connection, item, topic_ids, now)


def add_web_members(engine: Engine, members: int, now: datetime) -> range:
    """WEB_MEMBERS more members after the first N, who take daily emails on WEB_TOPIC only: the
    web load's one-click links are theirs, so its unsubscribes leave the weekly send's N alone."""
    first, last = members + 1, members + WEB_MEMBERS
    with engine.begin() as connection:
        topic = connection.scalar(select(Topic.id).where(Topic.slug == WEB_TOPIC))
        insert_members(connection, first, last, now)
        rows = numbers(connection, first, last)
        subscribe(connection, select(rows.c.i, literal(topic)), Frequency.DAILY)
    return range(first, last + 1)


def add_breaking_draft(engine: Engine, now: datetime) -> int:
    """A draft marked breaking, tagged with ALERT_TOPIC alone, for `articles publish`; its id."""
    sample = articles(now)[0]
    view = replace(sample.view, id=ALERT_ARTICLE_ID, title=f"Breaking: {sample.view.title}")
    view = replace(view, priority=Priority.BREAKING.value, topics=[TOPICS[ALERT_TOPIC]])
    with engine.begin() as connection:
        topic_ids = dict(connection.execute(select(Topic.slug, Topic.id)).all())
        item = BenchArticle(view, (ALERT_TOPIC,), now)
        _add_article(connection, item, topic_ids, now, ArticleStatus.DRAFT)
    return ALERT_ARTICLE_ID


def alert_recipients(members: int) -> int:
    """How many of members 1..N a breaking alert on ALERT_TOPIC reaches (all who follow it)."""
    return sum(ALERT_TOPIC in member_topics(i) for i in range(1, members + 1))


def _chunks(members: int) -> Iterator[tuple[int, int]]:
    for start in range(1, members + 1, CHUNK):
        yield start, min(start + CHUNK, members + 1)


def numbers(connection: Connection, first: int, last: int) -> Subquery:
    """first..last as rows of one column `i`: generate_series on PostgreSQL, a recursive CTE
    elsewhere (SQLite)."""
    if connection.dialect.name == "postgresql":
        series = func.generate_series(first, last).table_valued("i").render_derived("series")
        return select(series.c.i).subquery("numbers")
    counting = select(literal(first).label("i")).cte("counting", recursive=True)
    counting = counting.union_all(select(counting.c.i + 1).where(counting.c.i < last))
    return select(counting.c.i).subquery("numbers")


def email_sql(connection: Connection, number: ColumnElement[int]) -> ColumnElement[str]:
    """member_email(number), in SQL: at least six digits, as many as the number has."""
    if connection.dialect.name == "postgresql":
        digits = cast(number, String)
        padded = func.lpad(digits, func.greatest(6, func.length(digits)), "0")
        return literal("member") + padded + literal("@example.com")
    return func.printf("member%06d@example.com", number)


def insert_members(
    connection: Connection,
    first: int,
    last: int,
    now: datetime,
    created: datetime = SUBSCRIBED_AT,
) -> None:
    """Members first..last, active, each as `recipient(i)` describes them."""
    rows = numbers(connection, first, last)
    i = rows.c.i
    columns = Member.__table__.c
    connection.execute(
        insert(Member).from_select(
            ["id", "email", "name", "role", "status", "paused", "token_version"]
            + ["created_at", "updated_at", "confirmed_at"],
            select(
                i,
                email_sql(connection, i),
                case({k: name for k, name in enumerate(NAMES)}, value=i % len(NAMES)),
                case({k: role for k, role in enumerate(ROLES)}, value=i % len(ROLES)),
                literal(MemberStatus.ACTIVE, columns.status.type),
                literal(False),
                literal(1),
                literal(created, columns.created_at.type),
                literal(now, columns.updated_at.type),
                literal(created, columns.confirmed_at.type),
            ),
        )
    )


def _insert_subscriptions(
    connection: Connection, first: int, last: int, topic_ids: dict[str, int]
) -> None:
    """Member i's weekly subscriptions to member_topics(i): the members joined with the 80
    (topic set, topic) pairs on i % 31."""
    pairs = union_all(
        *(
            select(literal(k).label("k"), literal(topic_ids[slug]).label("topic_id"))
            for k, topics in enumerate(TOPIC_SETS)
            for slug in sorted(topics)
        )
    ).subquery("pairs")
    rows = numbers(connection, first, last)
    subscribe(
        connection,
        select(rows.c.i, pairs.c.topic_id).join(pairs, rows.c.i % len(TOPIC_SETS) == pairs.c.k),
        Frequency.WEEKLY,
    )


def subscribe(connection: Connection, pairs: Select[Any], frequency: Frequency) -> None:
    """Subscriptions for each (member id, topic id) row `pairs` selects, at `frequency`."""
    columns = Subscription.__table__.c
    chosen = pairs.subquery("chosen")
    member_id, topic_id = chosen.c
    connection.execute(
        insert(Subscription).from_select(
            ["member_id", "topic_id", "frequency", "created_at"],
            select(
                member_id,
                topic_id,
                literal(frequency, columns.frequency.type),
                literal(SUBSCRIBED_AT, columns.created_at.type),
            ),
        )
    )


def _add_article(
    connection: Connection,
    item: BenchArticle,
    topic_ids: dict[str, int],
    now: datetime,
    status: ArticleStatus = ArticleStatus.PUBLISHED,
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
            published_at=item.published_at if status == ArticleStatus.PUBLISHED else None,
            priority=Priority(view.priority),
            suggested_priority=Priority(view.priority),
            priority_reason="",
            status=status,
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

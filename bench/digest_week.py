"""A week of digest runs on PostgreSQL: what each run costs when members take some topics daily
and others weekly, and the daily and weekly digests must not repeat each other (ADR 0011).

    .venv/bin/python -m bench.digest_week [MEMBERS]       # default 20,000

The benchmark's members (bench/data.py: every topic set, weekly), half of them taking their
assessment and funding topics daily instead; three articles a day, all five topics each, one
of them two hours before the 07:00 digests. Each day's daily digest runs, and on the two
Mondays the weekly one; each run's deliveries are then marked sent. Prints each run's
recipients, wall time and the run's own CPU time (the database's is not in it).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, insert, text, update

from bench import data
from bench.servers import postgres
from newsletter import db
from newsletter.config import get_settings
from newsletter.delivery import digests
from newsletter.models import (
    Article,
    ArticleStatus,
    ArticleTopic,
    Delivery,
    DeliveryStatus,
    Frequency,
    Priority,
    Subscription,
)

MONDAY = datetime(2026, 11, 2, 7, tzinfo=UTC)  # 07:00 in London (winter)
DAILY_TOPICS = [1, 2]  # assessment and funding, as seeded
HOURS_BEFORE = (10, 6, 2)  # the day's articles, before its digests
RESET_ARTICLE_IDS = "SELECT setval('article_id_seq', (SELECT max(id) FROM article))"


def main(members: int) -> None:
    with postgres() as server:
        os.environ["NEWSLETTER_DATABASE_URL"] = server.url()
        os.environ["NEWSLETTER_VAR_DIR"] = tempfile.mkdtemp(prefix="digest-week-")
        get_settings.cache_clear()
        db.upgrade(server.url())
        engine = db.get_engine(server.url())
        data.populate(engine, members, MONDAY - timedelta(days=7))
        with engine.begin() as connection:
            connection.execute(
                update(Subscription)
                .where(Subscription.member_id % 2 == 0, Subscription.topic_id.in_(DAILY_TOPICS))
                .values(frequency=Frequency.DAILY)
            )
            # The benchmark's articles took their ids by hand: move the sequence past them.
            connection.execute(text(RESET_ARTICLE_IDS))
        server.analyze()
        for day in range(8):
            at = MONDAY + timedelta(days=day)
            with engine.begin() as connection:
                for hours in HOURS_BEFORE:
                    add_article(connection, at - timedelta(hours=hours))
            for frequency in (Frequency.DAILY, Frequency.WEEKLY):
                if frequency == Frequency.DAILY or day % 7 == 0:
                    run(frequency, at, day)
                    with engine.begin() as connection:
                        connection.execute(
                            update(Delivery)
                            .where(Delivery.status == DeliveryStatus.PENDING)
                            .values(status=DeliveryStatus.SENT)
                        )
        engine.dispose()


def run(frequency: Frequency, at: datetime, day: int) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    with db.session_scope() as session:
        result = digests.run_digest(session, frequency, at, get_settings())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"{frequency.value:6} day {day}: {result.recipients:7} recipients, "
        f"{wall:6.2f} s, {cpu:5.2f} s CPU",
        flush=True,
    )


def add_article(connection: Connection, published: datetime) -> None:
    number = int(published.timestamp())
    article_id = connection.execute(
        insert(Article)
        .values(
            title=f"Article {number}",
            summary="",
            body_html="<p>News.</p>",
            source="",
            published_at=published,
            priority=Priority.NORMAL,
            suggested_priority=Priority.NORMAL,
            priority_reason="",
            status=ArticleStatus.PUBLISHED,
            content_hash=hashlib.sha256(f"week-{number}".encode()).hexdigest(),
            created_at=published,
            source_format="",
            raw_text="",
        )
        .returning(Article.id)
    ).scalar_one()
    first = 1 + number % 5
    connection.execute(
        insert(ArticleTopic),
        [
            {"article_id": article_id, "topic_id": topic, "score": 1.0, "rank": rank}
            | {"assigned": True, "manual": False, "evidence": []}
            for rank, topic in enumerate([first, *(t for t in range(1, 6) if t != first)])
        ],
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)

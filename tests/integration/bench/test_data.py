"""The bench's members, written set-based (one INSERT ... SELECT per chunk), are the members the
limit and the naive way render in memory (bench/data.py's recipient and member_topics), and the
alert and web-load members reach whom the bench expects."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from bench import data
from newsletter.db import make_engine, session_scope
from newsletter.delivery.alerts import fan_out_article
from newsletter.models import (
    Article,
    ArticleStatus,
    Delivery,
    Frequency,
    Member,
    MemberStatus,
    Subscription,
    Topic,
)

NOW = datetime(2026, 11, 30, 7, tzinfo=UTC)
MEMBERS = 70  # more than the 31 topic sets twice over


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    found = make_engine(db_url)
    yield found
    found.dispose()


def _subscriptions(session: Session) -> dict[int, dict[str, Frequency]]:
    """Every member's topics and frequencies, in one query."""
    found: dict[int, dict[str, Frequency]] = {m: {} for m in session.scalars(select(Member.id))}
    rows = session.execute(
        select(Subscription.member_id, Topic.slug, Subscription.frequency).join(Topic)
    )
    for member_id, slug, frequency in rows:
        found[member_id][slug] = frequency
    return found


def test_members_are_written_as_the_in_memory_runs_render_them(engine: Engine) -> None:
    data.populate(engine, MEMBERS, NOW)
    with Session(engine) as session:
        members = {m.id: m for m in session.scalars(select(Member))}
        subscriptions = _subscriptions(session)
    assert sorted(members) == list(range(1, MEMBERS + 1))
    for index, member in members.items():
        person = data.recipient(index)
        assert (member.email, member.name) == (person.email, person.name)
        assert member.role == data.ROLES[index % len(data.ROLES)]
        assert member.status == MemberStatus.ACTIVE and not member.paused
        assert member.token_version == person.token_version
        weekly = dict.fromkeys(data.member_topics(index), Frequency.WEEKLY)
        assert subscriptions[index] == weekly


def test_a_member_number_past_six_digits_keeps_all_its_digits(engine: Engine) -> None:
    with engine.begin() as connection:
        data.insert_members(connection, 999_999, 1_000_001, NOW)
    with Session(engine) as session:
        emails = session.scalars(select(Member.email).order_by(Member.id)).all()
    assert emails == [data.member_email(i) for i in (999_999, 1_000_000, 1_000_001)]
    assert emails[1] == "member1000000@example.com"


def test_web_members_take_daily_email_on_one_topic_after_the_n(engine: Engine) -> None:
    data.populate(engine, MEMBERS, NOW)
    added = data.add_web_members(engine, MEMBERS, NOW)
    assert added == range(MEMBERS + 1, MEMBERS + data.WEB_MEMBERS + 1)
    with Session(engine) as session:
        subscriptions = _subscriptions(session)
    assert len(subscriptions) == MEMBERS + data.WEB_MEMBERS
    assert all(subscriptions[m] == {data.WEB_TOPIC: Frequency.DAILY} for m in added)


def test_the_breaking_draft_reaches_every_follower_of_its_topic(
    db_url: str, engine: Engine
) -> None:
    data.populate(engine, MEMBERS, NOW)
    data.add_web_members(engine, MEMBERS, NOW)
    article_id = data.add_breaking_draft(engine, NOW)
    with Session(engine) as session:
        draft = session.get(Article, article_id)
        assert draft is not None and draft.status == ArticleStatus.DRAFT
        assert draft.priority == "breaking"
    with session_scope(db_url) as session:
        session.execute(
            update(Article)
            .where(Article.id == article_id)
            .values(status=ArticleStatus.PUBLISHED, published_at=NOW)
        )
        fanned = fan_out_article(session, article_id, NOW)
        recipients = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.send_id == fanned.send_id)
        )
    assert recipients == data.alert_recipients(MEMBERS)
    assert 0 < data.alert_recipients(MEMBERS) < MEMBERS

"""One article reaches a member once (issue 12, item 4), on SQLite and PostgreSQL.

First the rule case by case, through the jobs the worker and beat run (in-process, the memory
backend standing in for SMTP). Then the property: hypothesis makes members with any mix of
topics and frequencies, articles with any topics, breaking or not, and a random order of
publishes, daily and weekly runs (re-runs too) at random times, each followed by its
deliveries coming out sent, failed or deferred (settled at the next step). The units of work
run in-process on the real ledger, as a worker and beat would run them. At the end, with
everything settled and a last daily and weekly run: each member has had each article at most
once, and exactly once when a digest of theirs covers one of its topics (an email that failed
gives it back); otherwise once if its alert was sent to them, else never.
"""

from __future__ import annotations

import email
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from typing import Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from newsletter.audience import groups_of
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.delivery import alerts, digests, jobs, ledger
from newsletter.delivery.backends import memory
from newsletter.delivery.backends.base import Outcome, SendResult
from newsletter.inline import inline
from newsletter.models import (
    Article,
    ArticleTopic,
    Delivery,
    DeliveryStatus,
    Frequency,
    Member,
    Priority,
    Send,
    SendKind,
    Topic,
)
from tests.support.delivery_data import add_article, add_member

MONDAY = datetime(2026, 11, 23, 7, tzinfo=UTC)  # 07:00 London: both digests are due
SUNDAY = MONDAY - timedelta(hours=20)


@pytest.fixture(autouse=True)
def _empty_outbox() -> Iterator[None]:
    memory.clear()
    yield
    memory.clear()


def emails_to(address: str) -> list[str]:
    """The text of each email sent to `address`, subject first."""
    found = []
    for message in memory.outbox:
        if message.to == address:
            parsed = email.message_from_bytes(message.data, policy=policy.default)
            text = parsed.get_body(preferencelist=("plain",))
            assert text is not None
            found.append(f"{parsed['Subject']}\n{text.get_content()}")
    return found


def titles_to(address: str, *titles: str) -> list[list[str]]:
    """Which of these titles each email to `address` holds, in order."""
    return [[t for t in titles if t in text] for text in emails_to(address)]


def digest(frequency: Frequency, at: datetime) -> None:
    with inline():
        jobs.digest(frequency, at)


def fan_out(article_id: int, at: datetime) -> int:
    with session_scope() as s:
        send_id = alerts.fan_out_article(s, article_id, at).send_id
    assert send_id is not None
    return send_id


def set_status(send_id: int, status: DeliveryStatus) -> None:
    with session_scope() as s:
        s.execute(update(Delivery).where(Delivery.send_id == send_id).values(status=status))


@pytest.mark.parametrize("first", [Frequency.DAILY, Frequency.WEEKLY])
def test_daily_and_weekly_topics_of_one_article_bring_it_once(
    session: Session, first: Frequency
) -> None:
    add_member(session, "ann@example.com", {"assessment": "daily", "itt": "weekly"})
    add_article(session, "Both topics", ["itt", "assessment"], published_at=SUNDAY)
    add_article(session, "Assessment only", ["assessment"], published_at=SUNDAY)
    add_article(session, "ITT only", ["itt"], published_at=SUNDAY)
    session.commit()

    then = Frequency.WEEKLY if first == Frequency.DAILY else Frequency.DAILY
    digest(first, MONDAY)
    digest(then, MONDAY + timedelta(minutes=1))
    digest(Frequency.DAILY, MONDAY + timedelta(days=1))

    titles = ("Both topics", "Assessment only", "ITT only")
    mine = {"Both topics", "Assessment only" if first == Frequency.DAILY else "ITT only"}
    # The first digest due carries it; the other has only its own topic's news.
    assert [set(t) for t in titles_to("ann@example.com", *titles)] == [
        mine,
        set(titles) - mine,
    ]


def test_an_alert_being_retried_keeps_the_article_out_until_it_fails(session: Session) -> None:
    add_member(session, "ann@example.com", {"funding": "immediate", "npq": "daily"})
    early = MONDAY - timedelta(hours=1)
    article = add_article(session, "Pay award", ["funding", "npq"], published_at=early)
    session.commit()
    alert = fan_out(article.id, early)
    set_status(alert, DeliveryStatus.DEFERRED)  # the SMTP server said "try later"

    digest(Frequency.DAILY, MONDAY)
    assert emails_to("ann@example.com") == []
    set_status(alert, DeliveryStatus.FAILED)  # and never took it
    digest(Frequency.DAILY, MONDAY + timedelta(days=1))

    assert titles_to("ann@example.com", "Pay award") == [["Pay award"]]


def test_an_alert_fanned_out_late_leaves_out_whom_a_digest_reached(session: Session) -> None:
    add_member(session, "ann@example.com", {"funding": "daily"})
    add_member(session, "bob@example.com", {"funding": "immediate"})
    article = add_article(
        session, "Pay award", ["funding"], priority=Priority.BREAKING, published_at=SUNDAY
    )
    session.commit()

    digest(Frequency.DAILY, MONDAY)  # before the fan-out of the alert ran
    alert = fan_out(article.id, MONDAY + timedelta(minutes=5))
    with inline():
        jobs.queue_send(alert)

    assert titles_to("ann@example.com", "Pay award") == [["Pay award"]]
    assert titles_to("bob@example.com", "Pay award") == [["Pay award"]]


def test_a_retry_leaves_out_what_reached_the_member_since(session: Session) -> None:
    add_member(session, "ann@example.com", {"funding": "immediate", "npq": "daily"})
    add_member(session, "bob@example.com", {"funding": "immediate"})
    article = add_article(session, "Pay award", ["funding", "npq"], published_at=SUNDAY)
    session.commit()
    alert = fan_out(article.id, SUNDAY)
    set_status(alert, DeliveryStatus.FAILED)
    digest(Frequency.DAILY, MONDAY)  # Ann's daily digest takes it back

    with inline():
        jobs.retry(alert, "staff@example.com")

    assert titles_to("ann@example.com", "Pay award") == [["Pay award"]]
    assert titles_to("bob@example.com", "Pay award") == [["Pay award"]]
    with session_scope() as s:
        ann = s.scalars(
            select(Delivery.last_error)
            .join(Member, Member.id == Delivery.member_id)
            .where(Delivery.send_id == alert, Member.email == "ann@example.com")
        ).one()
    assert "has had its articles since" in ann


def test_next_digest_is_what_the_run_sends(session: Session) -> None:
    add_member(session, "ann@example.com", {"assessment": "daily", "itt": "weekly"})
    add_member(session, "bob@example.com", {"itt": "daily", "npq": "daily"})
    add_member(session, "cat@example.com", {"careers": "daily"})
    for title, topics in [("A", ["itt", "assessment"]), ("B", ["npq"]), ("C", ["itt"])]:
        add_article(session, title, topics, published_at=SUNDAY)
    session.commit()
    digest(Frequency.WEEKLY, MONDAY)
    people = dict(session.execute(select(Member.email, Member.id)).all())

    with session_scope() as s:
        previews = {
            email: digests.next_digest(s, member, Frequency.DAILY, MONDAY + timedelta(hours=1))
            for email, member in people.items()
        }
    digest(Frequency.DAILY, MONDAY + timedelta(hours=1))

    with session_scope() as s:
        sent = {
            email: groups_of(content)
            for email, content in s.execute(
                select(Member.email, Delivery.content)
                .join(Member, Member.id == Delivery.member_id)
                .join(Send, Send.id == Delivery.send_id)
                .where(Send.key.like("digest:daily:%"))
            )
        }
    assert previews["cat@example.com"] == []
    assert previews["ann@example.com"] == []  # A came in the weekly digest
    assert {email: groups for email, groups in previews.items() if groups} == sent
    assert sum(len(ids) for _, ids in sent["bob@example.com"]) == 3


TOPICS = ["assessment", "funding", "itt", "careers", "npq"]
START = datetime(2026, 1, 5, 6, tzinfo=UTC)  # a Monday morning, long past
Fate = Literal["sent", "failed", "later"]
Action = Literal["publish", "daily", "weekly"]
RESULTS = {
    "sent": SendResult(Outcome.SENT, 250, "accepted"),
    "failed": SendResult(Outcome.FAILED, 554, "transaction failed"),
    "later": SendResult(Outcome.DEFERRED, 451, "try again later"),
}
# Deliveries left deferred settle at the next step; it comes within the time a delivery takes
# to settle at the latest (ledger.settled_within), which is what the product counts on.
SETTLE_HOURS = 3


@dataclass(frozen=True)
class Piece:
    topics: list[str]
    breaking: bool


@dataclass(frozen=True)
class Step:
    action: Action
    hours: int  # the clock moves on this much first
    fates: list[Fate]  # of the deliveries claimed after it, in turn


members_ = st.lists(
    st.dictionaries(
        st.sampled_from(TOPICS), st.sampled_from(list(Frequency)), min_size=1, max_size=3
    ),
    min_size=1,
    max_size=3,
)
pieces_ = st.lists(
    st.builds(
        Piece,
        st.lists(st.sampled_from(TOPICS), min_size=1, max_size=3, unique=True),
        st.booleans(),
    ),
    min_size=1,
    max_size=3,
)
steps_ = st.lists(
    st.builds(
        Step,
        st.sampled_from(["publish", "daily", "weekly"]),
        st.sampled_from([0, 0, 1, 2, 5, 11, 23, 30, 60]),
        st.lists(st.sampled_from(["sent", "sent", "failed", "later"]), min_size=1, max_size=3),
    ),
    max_size=7,
)


def empty_database() -> None:
    """No members, articles or sends: each example starts afresh (the topics stay). What
    hangs off them goes with them (ON DELETE CASCADE)."""
    with session_scope() as s:
        for model in (Send, Article, Member):
            s.execute(delete(model))


class World:
    """The simulated clock, and the units of work the task layer and beat would run."""

    def __init__(self, pieces: list[Piece]) -> None:
        self.now = START
        self.unpublished = list(pieces)
        self.settings = get_settings()
        self.deferred = False  # some deliveries wait for another attempt

    def advance(self, hours: int) -> None:
        self.now += timedelta(hours=min(hours, SETTLE_HOURS) if self.deferred else hours)

    def do(self, action: Action) -> None:
        if action == "publish":
            self.publish()
        else:
            with session_scope() as s:
                digests.run_digest(s, Frequency(action), self.now, self.settings)

    def publish(self) -> None:
        if not self.unpublished:
            return
        piece = self.unpublished.pop(0)
        with session_scope() as s:
            priority = Priority.BREAKING if piece.breaking else Priority.NORMAL
            article = add_article(s, "News", piece.topics, priority=priority, published_at=self.now)
        with session_scope() as s:
            alerts.fan_out_article(s, article.id, self.now)

    def deliver(self, fates: list[Fate]) -> None:
        """Send what is due, as workers would: deferred rows due again, then pending ones.
        A retried row is sent or fails; it is not deferred a second time."""
        retried: set[int] = set()
        if self.deferred:
            with session_scope() as s:
                recovered = ledger.recover(s, self.now, self.settings)
                retried = {i for ids in recovered.values() for i in ids}
        with session_scope() as s:
            by_send: dict[int, list[int]] = defaultdict(list)
            for send_id, delivery_id in s.execute(
                select(Delivery.send_id, Delivery.id)
                .where(Delivery.status == DeliveryStatus.PENDING)
                .order_by(Delivery.id)
            ):
                by_send[send_id].append(delivery_id)
            claimed = [
                c for send, ids in by_send.items() for c in ledger.claim(s, send, ids, self.now)
            ]
            attempts = []
            for number, row in enumerate(claimed):
                fate = fates[number % len(fates)]
                if fate == "later" and row.id in retried:
                    fate = "sent"
                attempts.append(ledger.Attempt(row, RESULTS[fate]))
            if not attempts:
                return
            backoff = ledger.backoff_from(self.settings)
            counts = ledger.record(s, attempts, self.now, backoff)
            ledger.complete_sends(s, self.now)
        self.deferred = bool(counts.get(DeliveryStatus.DEFERRED)) or (
            self.deferred and self.any_deferred()
        )

    def any_deferred(self) -> bool:
        with session_scope() as s:
            found = s.scalar(select(Delivery.id).where(Delivery.status == DeliveryStatus.DEFERRED))
            return found is not None

    def finish(self) -> None:
        """Publish what is left, let every delivery settle, then a last daily and weekly run
        a week on, all sent."""
        while self.unpublished:
            self.publish()
        self.deliver(["sent"])
        self.now += timedelta(hours=1)
        self.deliver(["sent"])
        self.now += timedelta(days=8)
        for action in ("daily", "weekly"):
            self.do(action)  # type: ignore[arg-type]
            self.deliver(["sent"])


def delivered(session: Session) -> tuple[Counter[tuple[int, int]], set[tuple[int, int]]]:
    """How many sent emails carried each (member, article); and which alerts were sent."""
    carried: Counter[tuple[int, int]] = Counter()
    alerted = set()
    rows = session.execute(
        select(Delivery.member_id, Send.kind, Send.article_id, Delivery.content)
        .join(Send, Send.id == Delivery.send_id)
        .where(Delivery.status == DeliveryStatus.SENT)
    )
    for member_id, kind, article_id, content in rows:
        if kind == SendKind.ALERT:
            carried[member_id, article_id] += 1
            alerted.add((member_id, article_id))
        else:
            for _, ids in groups_of(content):
                carried.update((member_id, i) for i in ids)
    return carried, alerted


def owed(follows: dict[str, Frequency], topics: list[str], breaking: bool, alert_sent: bool) -> int:
    """How many times a member should have had an article at the end."""
    followed = [follows[t] for t in topics if t in follows]
    if any(f in (Frequency.DAILY, Frequency.WEEKLY) for f in followed):
        return 1  # a digest covers it: a failed email gave it back
    if followed and (breaking or Frequency.IMMEDIATE in followed):
        return 1 if alert_sent else 0
    return 0


@pytest.mark.timeout(900)  # 200 examples a database; several minutes on a loaded machine
@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(people=members_, pieces=pieces_, steps=steps_)
def test_each_article_reaches_each_member_once(
    db_url: str, people: list[dict[str, Frequency]], pieces: list[Piece], steps: list[Step]
) -> None:
    empty_database()
    with session_scope() as s:
        ids = [
            add_member(s, f"m{i}@example.com", {t: f.value for t, f in follows.items()}).id
            for i, follows in enumerate(people)
        ]
    world = World(pieces)
    for step in steps:
        world.advance(step.hours)
        world.do(step.action)
        world.deliver(step.fates)
    world.finish()

    with session_scope() as s:
        carried, alerted = delivered(s)
        slugs = {topic_id: slug for slug, topic_id in s.execute(select(Topic.slug, Topic.id))}
        topics: dict[int, list[str]] = defaultdict(list)
        for article_id, topic_id in s.execute(
            select(ArticleTopic.article_id, ArticleTopic.topic_id)
        ):
            topics[article_id].append(slugs[topic_id])
        articles = list(s.execute(select(Article.id, Article.priority)))
    expected = {
        (member, article_id): owed(
            follows,
            topics[article_id],
            priority == Priority.BREAKING,
            (member, article_id) in alerted,
        )
        for member, follows in zip(ids, people, strict=True)
        for article_id, priority in articles
    }
    assert max(carried.values(), default=0) <= 1, "an article reached a member twice"
    assert {k: carried[k] for k in expected} == expected

"""Deliver one batch: claim its rows, render once per variant, personalise, send, record.

The whole batch goes over one backend connection, paced by the shared rate limiter, and each
message is recorded as soon as it is handed over (see handover.py); the rendering of a (send,
variant) is prepared once per process and reused by every later batch.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from newsletter.audience import Audience, groups_of, send_scope, variant_key
from newsletter.config import Settings, get_settings
from newsletter.db import session_scope
from newsletter.delivery import ledger
from newsletter.delivery.backends.base import Outcome, SendResult
from newsletter.delivery.handover import hand_over
from newsletter.models import (
    Article,
    Deadline,
    DeliveryStatus,
    Member,
    Send,
    SendKind,
    Subscription,
    Topic,
    utcnow,
)
from newsletter.observability import metrics
from newsletter.scheduling import days_left

if TYPE_CHECKING:
    from newsletter.rendering import (
        ArticleView,
        DeadlineView,
        OutgoingMessage,
        PreparedEmail,
        TopicGroup,
    )

log = logging.getLogger(__name__)

_CACHE_SIZE = 64
# (_send_key, variant) -> the rendering.
_prepared: OrderedDict[tuple[str, int, str, str], PreparedEmail] = OrderedDict()


@dataclass
class BatchReport:
    claimed: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    error: str = ""


def deliver_batch(
    send_id: int,
    delivery_ids: Sequence[int],
    settings: Settings | None = None,
    *,
    release_on_error: bool = False,
) -> BatchReport:
    """Send one batch of a send's deliveries; safe to run twice (a second run claims nothing).

    With `release_on_error` (a command sending inline, which no sweep of its own follows), an
    error or Ctrl-C part-way returns the rows it had claimed to `deferred`, due at once;
    a worker leaves them to the sweep, which takes them back after SENDING_TIMEOUT_SECONDS."""
    settings = settings or get_settings()
    set_aside: Counter[DeliveryStatus] = Counter()
    with session_scope() as session:
        claimed = ledger.claim(session, send_id, delivery_ids, utcnow(), set_aside)
        kind = session.scalar(select(Send.kind).where(Send.id == send_id))
    report = BatchReport(claimed=len(claimed))
    counts = set_aside
    if claimed:
        try:
            handed_over, report.error = _compose_and_send(send_id, claimed, settings)
        except BaseException as exc:
            if release_on_error:
                _release(claimed, exc)
            raise
        counts = counts + handed_over
        report.counts = {status.value: n for status, n in handed_over.items()}
    if kind is not None:
        outcomes = {status.value: n for status, n in counts.items()}
        metrics.count_emails(kind.value, outcomes)
        log.info("batch of %d: %s", len(delivery_ids), outcomes, extra={"send_id": send_id})
    with session_scope() as session:
        ledger.complete_sends(session, utcnow(), [send_id])
    return report


def _release(claimed: list[ledger.Claimed], exc: BaseException) -> None:
    why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"stopped: {exc}"
    reason = f"the command sending inline was {why}"
    with session_scope() as session:
        ledger.release(session, claimed, reason[:1000], utcnow())


def _compose_and_send(
    send_id: int, claimed: list[ledger.Claimed], settings: Settings
) -> tuple[Counter[DeliveryStatus], str]:
    with session_scope() as session:
        messages, failures = compose(session, send_id, claimed, settings)
        counts = Counter(ledger.record(session, failures, utcnow(), ledger.backoff_from(settings)))
        audience = ledger.send_audience(session, send_id)
    if not messages:
        return counts, ""
    handed_over, error = hand_over(messages, audience, settings)
    return counts + handed_over, error


def compose(
    session: Session, send_id: int, claimed: Sequence[ledger.Claimed], settings: Settings
) -> tuple[list[tuple[ledger.Claimed, OutgoingMessage]], list[ledger.Attempt]]:
    """Personalised messages for the claimed rows, and failures for any that cannot render."""
    from newsletter.rendering import Recipient, RecipientError, TemplateError

    send = session.get(Send, send_id)
    assert send is not None
    wanted = [c.member_id for c in claimed]
    members = {
        m.id: m
        for m in session.execute(  # plain rows: a batch builds no ORM objects for its members
            select(Member.id, Member.email, Member.name, Member.token_version).where(
                Member.id.in_(wanted)
            )
        )
    }
    follows = members_follow(session, send, wanted, settings)
    messages: list[tuple[ledger.Claimed, OutgoingMessage]] = []
    failures: list[ledger.Attempt] = []
    for row in claimed:
        member = members[row.member_id]
        try:
            prepared = prepared_for(session, send, row.content, settings)
        except (TemplateError, LookupError) as exc:
            failures.append(
                ledger.Attempt(row, SendResult(Outcome.FAILED, None, f"cannot render: {exc}"))
            )
            continue
        recipient = Recipient(
            member.id, member.email, member.name, member.token_version, follows.get(member.id, ())
        )
        try:
            messages.append((row, prepared.personalise(recipient)))
        except RecipientError as exc:
            failures.append(ledger.Attempt(row, SendResult(Outcome.FAILED, None, str(exc))))
    return messages, failures


def members_follow(
    session: Session, send: Send, member_ids: Sequence[int], settings: Settings
) -> dict[int, tuple[tuple[str, str], ...]]:
    """For each member, the (topic name, frequency) of their subscriptions this send is for:
    the footer tells them why they got it. One query a batch."""
    audience = Audience.from_json(send.audience or {})
    names = _catalogue_for(session, send, settings).names
    subscriptions: dict[int, list[tuple[int, Any]]] = {}
    for member_id, topic_id, frequency in session.execute(
        select(Subscription.member_id, Subscription.topic_id, Subscription.frequency).where(
            Subscription.member_id.in_(member_ids)
        )
    ):
        subscriptions.setdefault(member_id, []).append((topic_id, frequency))
    follows = {}
    for member_id, pairs in subscriptions.items():
        scope = send_scope(audience, pairs)
        follows[member_id] = tuple(
            sorted((names[t], f.value) for t, f in pairs if t in scope and t in names)
        )
    return follows


def load_ahead(settings: Settings) -> None:
    """Import and compile once, in a worker's main process, what every batch needs: each pool
    process forked from it starts with it (bench/: importing the database driver and compiling
    the templates in each pool process was a tenth of a 10,000-member digest's worker time)."""
    from newsletter.db import make_engine
    from newsletter.delivery import ratelimit  # noqa: F401  (imports redis: 0.2 s)
    from newsletter.delivery.backends import get_backend
    from newsletter.rendering.environment import default_templates

    env = default_templates().env
    for name in env.list_templates(extensions=["j2"]):
        env.get_template(name)
    get_backend(settings=settings)
    make_engine(settings.DATABASE_URL).dispose()  # imports the driver; connects to nothing


def transmit(messages: list[OutgoingMessage], settings: Settings) -> list[SendResult]:
    """Send over one connection, in slices the shared rate limit allows."""
    from newsletter.delivery.backends import get_backend
    from newsletter.delivery.ratelimit import connection_slot, make_rate_limiter

    limiter = make_rate_limiter(settings)
    rate = settings.RATE_LIMIT_PER_SECOND
    step = max(1, int(rate)) if rate > 0 else len(messages)
    results: list[SendResult] = []
    with connection_slot(settings):
        connection = get_backend(settings=settings).open()
        try:
            for start in range(0, len(messages), step):
                chunk = messages[start : start + step]
                limiter.acquire(len(chunk))
                results.extend(connection.send_batch(chunk))
        finally:
            connection.close()
    return results


def _send_key(send: Send, settings: Settings) -> tuple[str, int, str]:
    # (database, send id, send created): ids alone repeat across databases (tests).
    return (settings.DATABASE_URL, send.id, send.created_at.isoformat())


def prepared_for(
    session: Session, send: Send, content: dict[str, Any] | None, settings: Settings
) -> PreparedEmail:
    """The rendering shared by every member whose copy has this content (cached per process)."""
    key = (*_send_key(send, settings), variant_key(content))
    if key in _prepared:
        _prepared.move_to_end(key)
        return _prepared[key]
    prepared = prepare(session, send, content, settings)
    _prepared[key] = prepared
    if len(_prepared) > _CACHE_SIZE:
        _prepared.popitem(last=False)
    return prepared


def prepare(
    session: Session, send: Send, content: dict[str, Any] | None, settings: Settings
) -> PreparedEmail:
    from newsletter import rendering
    from newsletter.rendering.build import ListTopic

    if send.kind == SendKind.ANNOUNCEMENT:
        from newsletter.acknowledgements import carries_button

        return rendering.prepare_announcement(
            send.subject,
            send.body_markdown,
            send_id=send.id,
            acknowledge=carries_button(session, send.id),
        )
    if send.kind == SendKind.DIGEST:
        frequency = (Audience.from_json(send.audience).frequencies or ())[0]
        groups = digest_topic_groups(session, send, groups_of(content), settings)
        return rendering.prepare_digest(frequency.value, groups, send_id=send.id)
    catalogue = _catalogue_for(session, send, settings)
    article = session.get(Article, send.article_id) if send.article_id else None
    if article is None:
        raise LookupError(f"the article of send {send.id} no longer exists")
    view = rendering.ArticleView.from_model(article, catalogue.names)
    if send.kind == SendKind.ALERT:
        main = min((t for t in article.topics if t.assigned), key=lambda t: t.rank, default=None)
        list_topic = (
            ListTopic(catalogue.slugs[main.topic_id], catalogue.names[main.topic_id])
            if main is not None and main.topic_id in catalogue.names
            else None
        )
        return rendering.prepare_alert(view, send_id=send.id, list_topic=list_topic)
    deadline = session.get(Deadline, send.deadline_id) if send.deadline_id else None
    if deadline is None:
        raise LookupError(f"the deadline of send {send.id} no longer exists")
    left = days_left(deadline.date, send.started_at or utcnow(), ZoneInfo(settings.TIMEZONE))
    deadlines = same_day_deadlines(article, deadline)
    return rendering.prepare_reminder(view, deadlines, left, send_id=send.id)


def same_day_deadlines(article: Article, deadline: Deadline) -> list[DeadlineView]:
    """The reminded deadline and the article's others of its kind on the same day: one
    reminder tells of them all (reminders.run_reminders sends one per day)."""
    from newsletter.rendering import DeadlineView

    alike = [
        d
        for d in sorted(article.deadlines, key=lambda d: d.id)
        if d.id == deadline.id
        or (d.date, d.kind, d.precision) == (deadline.date, deadline.kind, deadline.precision)
    ]
    return [DeadlineView(d.date, d.precision.value, d.kind.value, d.text) for d in alike]


@dataclass
class _Catalogue:
    """A digest send's topics and the articles its variants have needed so far."""

    names: dict[int, str]
    slugs: dict[int, str]
    views: dict[int, ArticleView] = field(default_factory=dict)


# Keyed by _send_key. A digest's 31 variants draw on the same few articles: loading them
# for each variant was a quarter of a worker's first batch.
_catalogues: OrderedDict[tuple[str, int, str], _Catalogue] = OrderedDict()


def digest_topic_groups(
    session: Session, send: Send, groups: list[tuple[int, list[int]]], settings: Settings
) -> list[TopicGroup]:
    from newsletter.rendering import TopicGroup

    catalogue = _catalogue_for(session, send, settings)
    _load_views(session, catalogue, [article_id for _, ids in groups for article_id in ids])
    return [
        TopicGroup(
            catalogue.slugs[topic_id],
            catalogue.names[topic_id],
            [catalogue.views[i] for i in ids if i in catalogue.views],
        )
        for topic_id, ids in groups
    ]


def _catalogue_for(session: Session, send: Send, settings: Settings) -> _Catalogue:
    key = _send_key(send, settings)
    if key not in _catalogues:
        topics = session.execute(select(Topic.id, Topic.name, Topic.slug)).all()
        names = {t.id: t.name for t in topics}
        _catalogues[key] = _Catalogue(names, {t.id: t.slug for t in topics})
        if len(_catalogues) > _CACHE_SIZE:
            _catalogues.popitem(last=False)
    return _catalogues[key]


def _load_views(session: Session, catalogue: _Catalogue, wanted: list[int]) -> None:
    from newsletter.rendering import ArticleView

    missing = [article_id for article_id in wanted if article_id not in catalogue.views]
    if not missing:
        return
    found = session.scalars(
        select(Article)
        .where(Article.id.in_(missing))
        .options(selectinload(Article.topics), selectinload(Article.deadlines))
    )
    for article in found:
        catalogue.views[article.id] = ArticleView.from_model(article, catalogue.names)

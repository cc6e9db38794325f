"""The article store: import (idempotent), publish, withdraw, and staff overrides.

Publishing calls the dispatch function only after the transaction commits, so a worker that
picks the article up always finds it published.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from newsletter import after_commit, audit, dispatch
from newsletter.articles import classify, priority
from newsletter.articles.capture import chrome_lines
from newsletter.articles.deadlines import FoundDate, find_deadlines
from newsletter.articles.parse import CAPTURE, ParsedArticle, ParseError, parse_article
from newsletter.config import get_settings
from newsletter.models import (
    Article,
    ArticleStatus,
    ArticleTopic,
    Deadline,
    Delivery,
    DeliveryStatus,
    Priority,
    Send,
    SendStatus,
    Topic,
    TopicRule,
    utcnow,
)

log = logging.getLogger(__name__)

Notify = Callable[[int], None]
# How many stored captures teach the importer what site chrome looks like.
CHROME_SAMPLE = 50
NOT_STARTED = (SendStatus.SCHEDULED, SendStatus.MISSED)


class ArticleError(ValueError):
    """The article cannot be imported or changed; the message says why."""


@dataclass(frozen=True)
class ImportOutcome:
    article: Article
    created: bool  # False: the same content was already in the store
    published: bool = False  # published by this call
    notes: tuple[str, ...] = ()  # doubts the importer had, worth showing to staff


# --- import ---------------------------------------------------------------------------------


def content_hash(text: str) -> str:
    """The same content gives the same hash, whatever its line endings or trailing spaces."""
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    normal = "\n".join(line.rstrip() for line in lines).strip()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


def import_article(
    session: Session,
    text: str,
    *,
    filename: str = "",
    source: str = "",
    topics: Sequence[str] | None = None,
    breaking: bool = False,
    publish: bool = False,
    actor: str = "",
    today: date | None = None,
    notify: Notify | None = None,
) -> ImportOutcome:
    """Parse, tag, find deadlines and store one article; the same content twice is one article.

    `topics` replaces the automatic topics; `breaking` overrides the suggested priority.
    """
    actor = actor or audit.cli_actor()
    digest = content_hash(text)
    existing = session.scalar(select(Article).where(Article.content_hash == digest))
    if existing is not None:
        # A withdrawn article stays withdrawn: only `publish_article` brings it back.
        published = publish and existing.status is ArticleStatus.DRAFT
        if published:
            _publish(session, existing, actor, notify)
        return ImportOutcome(existing, created=False, published=published)

    try:
        parsed = parse_article(text, filename, known_chrome(session))
    except ParseError as exc:
        raise ArticleError(str(exc)) from None
    reference = parsed.first_published or today or _today()
    # The body first: where the title and a sentence give one date, the sentence is kept (a
    # reminder quotes it; quoting the title would only say the title again).
    found = find_deadlines(f"{parsed.text}\n{parsed.title}", reference)
    article = _new_article(parsed, text, digest, source or filename, found)
    _tag(session, article, parsed, list(topics) if topics else list(parsed.topics))
    staff_priority = Priority.BREAKING if breaking else parsed.priority
    _prioritise(article, found, reference, staff_priority)
    session.add(article)
    try:
        session.flush()
    except IntegrityError:
        # The unique content hash caught a twin imported at the same moment; the caller's
        # transaction must roll back, and a second try finds the twin.
        raise ArticleError(
            "the same content was being imported at the same time; try again"
        ) from None
    audit.record(session, actor, "article.import", "article", article.id, title=article.title)
    if publish:
        _publish(session, article, actor, notify)
    return ImportOutcome(article, created=True, published=publish, notes=parsed.notes)


def known_chrome(session: Session) -> set[str]:
    """Lines that were site chrome in the most recently stored page captures."""
    raws = session.scalars(
        select(Article.raw_text)
        .where(Article.source_format == CAPTURE)
        .order_by(Article.id.desc())
        .limit(CHROME_SAMPLE)
    )
    lines: set[str] = set()
    for raw in raws:
        lines |= chrome_lines(raw)
    return lines


def _new_article(
    parsed: ParsedArticle, raw: str, digest: str, source: str, found: list[FoundDate]
) -> Article:
    return Article(
        title=parsed.title[:500],
        summary=parsed.summary,
        body_html=parsed.body_html,
        source=(parsed.source or source)[:1000],
        first_published=parsed.first_published,
        status=ArticleStatus.DRAFT,
        content_hash=digest,
        source_format=parsed.format,
        raw_text=raw,
        deadlines=[
            Deadline(date=d.date, precision=d.precision, kind=d.kind, text=d.text) for d in found
        ],
    )


def _today() -> date:
    return datetime.now(ZoneInfo(get_settings().TIMEZONE)).date()


def _tag(
    session: Session, article: Article, parsed: ParsedArticle, staff_topics: list[str]
) -> None:
    topics = {t.slug: t for t in session.scalars(select(Topic))}
    unknown = [slug for slug in staff_topics if slug not in topics]
    if unknown:
        raise ArticleError(f"unknown topic {unknown[0]!r} (known: {', '.join(sorted(topics))})")
    scores = classify.classify(parsed.title, parsed.text, load_rules(session))
    article.topics = _topic_rows(scores, staff_topics, topics)


def load_rules(session: Session) -> list[classify.Rule]:
    rows = session.execute(
        select(Topic.slug, TopicRule.phrase, TopicRule.weight).join(
            TopicRule, TopicRule.topic_id == Topic.id
        )
    )
    return [classify.Rule(slug, phrase, weight) for slug, phrase, weight in rows]


def _topic_rows(
    scores: list[classify.TopicScore], staff_topics: list[str], topics: dict[str, Topic]
) -> list[ArticleTopic]:
    """Every scored topic with its evidence; staff's choice, in their order, else the rules'."""
    by_slug = {s.topic: s for s in scores if s.topic in topics}
    chosen = staff_topics or classify.assigned_topics(scores)
    order = chosen + [slug for slug in by_slug if slug not in chosen]
    rows = []
    for rank, slug in enumerate(order):
        score = by_slug.get(slug)
        rows.append(
            ArticleTopic(
                topic=topics[slug],
                score=score.score if score else 0.0,
                rank=rank,
                assigned=slug in chosen,
                manual=bool(staff_topics) and slug in chosen,
                evidence=[e.as_dict() for e in score.evidence] if score else [],
            )
        )
    return rows


def _prioritise(
    article: Article, found: list[FoundDate], reference: date, staff_choice: Priority | None
) -> None:
    window = get_settings().BREAKING_WINDOW_DAYS
    decision = priority.decide(found, reference, window, staff_choice)
    article.priority = decision.priority
    article.suggested_priority = decision.suggested
    article.priority_reason = decision.reason


# --- publish and withdraw -------------------------------------------------------------------


def get_article(session: Session, article_id: int) -> Article:
    article = session.get(Article, article_id)
    if article is None:
        raise ArticleError(f"no article {article_id}")
    return article


def publish_article(
    session: Session,
    article_id: int,
    actor: str = "",
    notify: Notify | None = None,
) -> bool:
    """Publish a draft or withdrawn article; True if it was not published before. Either way
    the alert is (re)queued after commit: delivery is idempotent, so this also recovers an
    alert whose queueing failed."""
    article = get_article(session, article_id)
    if article.status is ArticleStatus.PUBLISHED:
        queue_alert_after_commit(session, article.id, notify)
        return False
    _publish(session, article, actor or audit.cli_actor(), notify)
    return True


def _publish(session: Session, article: Article, actor: str, notify: Notify | None) -> None:
    article.status = ArticleStatus.PUBLISHED
    article.published_at = utcnow()
    session.flush()
    audit.record(session, actor, "article.publish", "article", article.id)
    queue_alert_after_commit(session, article.id, notify)


def withdraw_article(session: Session, article_id: int, actor: str = "") -> int:
    """Withdraw; its sends that have not started are cancelled. Returns how many."""
    article = get_article(session, article_id)
    if article.status is ArticleStatus.WITHDRAWN:
        return 0
    article.status = ArticleStatus.WITHDRAWN
    deadline_ids = select(Deadline.id).where(Deadline.article_id == article.id)
    send_ids = list(
        session.scalars(
            select(Send.id).where(
                Send.status.in_(NOT_STARTED),
                (Send.article_id == article.id) | Send.deadline_id.in_(deadline_ids),
            )
        )
    )
    if send_ids:
        session.execute(
            update(Send)
            .where(Send.id.in_(send_ids), Send.status.in_(NOT_STARTED))
            .values(status=SendStatus.CANCELLED, finished_at=utcnow())
        )
        session.execute(
            update(Delivery)
            .where(Delivery.send_id.in_(send_ids), Delivery.status == DeliveryStatus.PENDING)
            .values(status=DeliveryStatus.CANCELLED)
        )
    audit.record(
        session,
        actor or audit.cli_actor(),
        "article.withdraw",
        "article",
        article.id,
        cancelled_sends=send_ids,
    )
    session.flush()
    return len(send_ids)


# --- staff overrides ------------------------------------------------------------------------


def set_topics(session: Session, article_id: int, slugs: Sequence[str], actor: str = "") -> None:
    """Staff's topics replace the automatic ones; scores and evidence are kept."""
    article = get_article(session, article_id)
    topics = {t.slug: t for t in session.scalars(select(Topic))}
    slugs = list(dict.fromkeys(s.strip().lower() for s in slugs if s.strip()))
    unknown = [slug for slug in slugs if slug not in topics]
    if unknown:
        raise ArticleError(f"unknown topic {unknown[0]!r} (known: {', '.join(sorted(topics))})")
    existing = {row.topic.slug: row for row in article.topics}
    order = slugs + sorted(
        (s for s in existing if s not in slugs), key=lambda s: -existing[s].score
    )
    for rank, slug in enumerate(order):
        row = existing.get(slug) or ArticleTopic(topic=topics[slug], score=0.0, evidence=[])
        row.rank, row.assigned, row.manual = rank, slug in slugs, slug in slugs
        if slug not in existing:
            article.topics.append(row)
    session.flush()
    actor = actor or audit.cli_actor()
    audit.record(session, actor, "article.topics", "article", article_id, topics=slugs)


def set_priority(session: Session, article_id: int, choice: Priority, actor: str = "") -> None:
    """Staff's priority replaces the suggestion, which is kept and shown in the reason."""
    article = get_article(session, article_id)
    found = [FoundDate(d.date, d.precision, d.kind, d.text) for d in article.deadlines]
    reference = article.first_published or article.created_at.date()
    _prioritise(article, found, reference, choice)
    session.flush()
    actor = actor or audit.cli_actor()
    audit.record(session, actor, "article.priority", "article", article_id, priority=choice.value)


# --- after commit ---------------------------------------------------------------------------


def queue_alert_after_commit(
    session: Session, article_id: int, notify: Notify | None = None
) -> None:
    """Call `notify(article_id)` (default: the dispatch door) once this transaction commits
    (newsletter/after_commit.py); a failure is kept for `dispatch_failures`."""
    failure = f"could not queue the alert for article {article_id}"
    after_commit.call(
        session, notify or dispatch.article_published, article_id, keep_failure=failure
    )


def dispatch_failures(session: Session) -> list[str]:
    """What could not be queued after this session's commits (the commits themselves stand)."""
    return after_commit.failures(session)


# --- reading --------------------------------------------------------------------------------


def list_articles(session: Session) -> list[Article]:
    return list(
        session.scalars(
            select(Article)
            .options(
                selectinload(Article.topics).selectinload(ArticleTopic.topic),
                selectinload(Article.deadlines),
            )
            .order_by(Article.id)
        )
    )


def describe(article: Article) -> dict[str, Any]:
    """What `articles list --json` prints for one article."""
    return {
        "id": article.id,
        "title": article.title,
        "first_published": article.first_published.isoformat() if article.first_published else None,
        "topics": [row.topic.slug for row in _ranked(article.topics) if row.assigned],
        "priority": article.priority.value,
        "priority_reason": article.priority_reason,
        "status": article.status.value,
        "deadlines": [
            {
                "date": d.date.isoformat(),
                "precision": d.precision.value,
                "kind": d.kind.value,
                "text": d.text,
            }
            for d in sorted(article.deadlines, key=lambda d: (d.date, d.kind.value))
        ],
        "source": article.source,
    }


def describe_full(article: Article) -> dict[str, Any]:
    """`describe` plus the summary, body and every topic's score with its evidence."""
    return {
        **describe(article),
        "suggested_priority": article.suggested_priority.value,
        "published_at": article.published_at.isoformat() if article.published_at else None,
        "summary": article.summary,
        "body_html": article.body_html,
        "topic_scores": [
            {
                "topic": row.topic.slug,
                "score": row.score,
                "assigned": row.assigned,
                "manual": row.manual,
                "evidence": row.evidence,
            }
            for row in _ranked(article.topics)
        ],
    }


def _ranked(rows: Iterable[ArticleTopic]) -> list[ArticleTopic]:
    return sorted(rows, key=lambda row: row.rank)

"""The public archive of past digests and announcements, as sent minus personal parts.

An announcement is shown as staff wrote it (no greeting, no member's links). A digest is
personal (each member gets the articles of their own topics), so the archive shows its whole
edition: the published articles of the period it covered, from the previous digest of its
frequency up to its own run. Editions are filtered by words, topic and the date they went.

The archive is read whole and filtered here: a few hundred sends and a few thousand articles
a year, which one query each reads in milliseconds; indexes on words would cost more than
they save at this size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from newsletter.audience import Audience
from newsletter.config import get_settings
from newsletter.models import (
    Article,
    ArticleStatus,
    ArticleTopic,
    Frequency,
    Send,
    SendKind,
    SendStatus,
)

FIRST_PERIOD = {Frequency.DAILY: timedelta(days=1), Frequency.WEEKLY: timedelta(days=7)}


@dataclass(frozen=True)
class Edition:
    """One past digest or announcement as the archive shows it."""

    send_id: int
    kind: SendKind
    sent_at: datetime
    frequency: Frequency | None = None  # a digest's
    subject: str = ""  # an announcement's
    body_markdown: str = ""  # an announcement's
    topic_ids: frozenset[int] | None = None  # an announcement's audience (None: everyone)
    articles: list[Article] = field(default_factory=list)  # a digest's edition, newest first

    @property
    def title(self) -> str:
        if self.frequency is not None:
            return f"{self.frequency.value.capitalize()} digest"
        return self.subject

    def is_about(self, topic_ids: Sequence[int]) -> bool:
        if self.kind == SendKind.ANNOUNCEMENT:
            return self.topic_ids is None or bool(self.topic_ids & set(topic_ids))
        return any(
            link.assigned and link.topic_id in topic_ids for a in self.articles for link in a.topics
        )

    def says(self, words: Sequence[str]) -> bool:
        text = " ".join(
            [self.subject, self.body_markdown, *(f"{a.title} {a.summary}" for a in self.articles)]
        ).casefold()
        return all(word in text for word in words)


@dataclass(frozen=True)
class EditionFilter:
    words: str = ""
    topic_ids: Sequence[int] | None = None  # None: every topic
    since: date | None = None  # sent on or after (the association's calendar)
    until: date | None = None  # sent on or before

    @property
    def word_list(self) -> list[str]:
        return self.words.casefold().split()


def past_editions(
    session: Session, wanted: EditionFilter, offset: int, limit: int
) -> tuple[list[Edition], int]:
    """A page of the past digests and announcements matching `wanted`, newest first, and how
    many match in all."""
    editions = [e for e in _all_editions(session) if _matches(e, wanted)]
    return editions[offset : offset + limit], len(editions)


def edition(session: Session, send_id: int) -> Edition | None:
    """One past digest or announcement; None for anything else (a draft, an alert...)."""
    return next((e for e in _all_editions(session) if e.send_id == send_id), None)


def _matches(edition: Edition, wanted: EditionFilter) -> bool:
    day = _local_day(edition.sent_at)
    if wanted.since is not None and day < wanted.since:
        return False
    if wanted.until is not None and day > wanted.until:
        return False
    if wanted.topic_ids is not None and not edition.is_about(wanted.topic_ids):
        return False
    return edition.says(wanted.word_list)


def _all_editions(session: Session) -> list[Edition]:
    sends = list(
        session.scalars(
            select(Send)
            .where(
                Send.kind.in_((SendKind.DIGEST, SendKind.ANNOUNCEMENT)),
                Send.status == SendStatus.SENT,
                Send.started_at.is_not(None),
            )
            .order_by(Send.started_at.desc(), Send.id.desc())
        )
    )
    digests = _digest_windows([s for s in sends if s.kind == SendKind.DIGEST])
    articles = _published_between(session, digests.values())
    editions = []
    for send in sends:
        assert send.started_at is not None
        if send.kind == SendKind.ANNOUNCEMENT:
            topics = Audience.from_json(send.audience).topic_ids
            editions.append(
                Edition(
                    send.id,
                    send.kind,
                    send.started_at,
                    subject=send.subject,
                    body_markdown=send.body_markdown,
                    topic_ids=None if topics is None else frozenset(topics),
                )
            )
            continue
        start, end = digests[send.id]
        carried = [a for a in articles if a.published_at and start < a.published_at <= end]
        frequency = _frequency_of(send)
        editions.append(
            Edition(send.id, send.kind, send.started_at, frequency=frequency, articles=carried)
        )
    return editions


def _digest_windows(digests: list[Send]) -> dict[int, tuple[datetime, datetime]]:
    """{send id: (after, up to)} the period each digest covered: since the previous digest of
    its frequency ran (the first: one period back)."""
    windows: dict[int, tuple[datetime, datetime]] = {}
    previous: dict[Frequency, datetime] = {}
    for send in sorted(digests, key=lambda s: (s.started_at, s.id)):
        assert send.started_at is not None
        frequency = _frequency_of(send)
        start = previous.get(frequency, send.started_at - FIRST_PERIOD[frequency])
        windows[send.id] = (start, send.started_at)
        previous[frequency] = send.started_at
    return windows


def _frequency_of(send: Send) -> Frequency:
    frequencies = Audience.from_json(send.audience).frequencies or (Frequency.DAILY,)
    return frequencies[0]


def _published_between(
    session: Session, windows: Iterable[tuple[datetime, datetime]]
) -> list[Article]:
    spans = list(windows)
    if not spans:
        return []
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    return list(
        session.scalars(
            select(Article)
            .where(
                Article.status == ArticleStatus.PUBLISHED,
                Article.published_at > start,
                Article.published_at <= end,
            )
            .options(selectinload(Article.topics).selectinload(ArticleTopic.topic))
            .order_by(Article.published_at.desc(), Article.id.desc())
        )
    )


def _local_day(at: datetime) -> date:
    return at.astimezone(ZoneInfo(get_settings().TIMEZONE)).date()

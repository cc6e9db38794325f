"""Deadlines as iCalendar: the `.ics` an alert or reminder carries, and the calendar feeds
(a member's private one of their topics, and one per topic) that Outlook and Google Calendar
subscribe to.

Each closing deadline known to the day is an all-day VEVENT with a VALARM the day before.
Its UID depends only on the deadline, so a calendar that already holds it (from an email's
attachment or a feed) updates the event instead of adding a second one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from icalendar import Alarm, Calendar, Event
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.config import get_settings
from newsletter.models import (
    Article,
    ArticleStatus,
    ArticleTopic,
    DatePrecision,
    Deadline,
    DeadlineKind,
    Member,
    MemberStatus,
    Topic,
)

if TYPE_CHECKING:
    from newsletter.rendering.headers import Sender

PRODUCT_ID = "-//School Leaders Network//newsletter//EN"
CONTENT_TYPE = "text/calendar; charset=utf-8"
FEED_LIMIT = 500  # the soonest deadlines a feed holds; calendars do not need years of them
REFRESH = timedelta(hours=12)  # how often a subscribed calendar is asked to fetch again


@dataclass(frozen=True)
class DeadlineEvent:
    """One closing deadline as a calendar shows it."""

    deadline_id: int
    day: date
    title: str  # the article's
    url: str  # the article on the website
    text: str = ""  # the sentence the deadline was found in

    @property
    def summary(self) -> str:
        return f"Closes: {self.title}"


def is_calendar_deadline(kind: DeadlineKind | str, precision: DatePrecision | str) -> bool:
    """A deadline that goes in calendars: one that closes, on a known day."""
    return str(kind) == DeadlineKind.CLOSES.value and str(precision) == DatePrecision.DAY.value


def calendar_bytes(
    events: Sequence[DeadlineEvent], *, domain: str, name: str = "", feed: bool = False
) -> bytes:
    """An iCalendar file of these deadlines; `feed` adds what a subscribed calendar reads
    (its name and how often to refresh)."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    if name:
        calendar.add("x-wr-calname", name)
        calendar.add("name", name)
    if feed:
        calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
        calendar.add("x-published-ttl", REFRESH)
    stamp = datetime.now(UTC).replace(microsecond=0)
    for event in events:
        calendar.add_component(_vevent(event, domain, stamp))
    return calendar.to_ical()


def _vevent(event: DeadlineEvent, domain: str, stamp: datetime) -> Event:
    vevent = Event()
    vevent.add("uid", f"deadline-{event.deadline_id}@{domain}")
    vevent.add("dtstamp", stamp)
    vevent.add("dtstart", event.day)
    vevent.add("dtend", event.day + timedelta(days=1))
    vevent.add("summary", event.summary)
    vevent.add("description", "\n\n".join(p for p in (event.text, event.url) if p))
    vevent.add("url", event.url)
    vevent.add("transp", "TRANSPARENT")  # a deadline does not make anyone busy
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", f"Tomorrow: {event.summary}")
    alarm.add("trigger", timedelta(days=-1))
    vevent.add_component(alarm)
    return vevent


def upcoming_deadlines(
    session: Session, topic_ids: Sequence[int] | None, today: date, article_url: str
) -> list[DeadlineEvent]:
    """Closing deadlines from `today` on, of published articles in these topics (None: all),
    soonest first; `article_url` has an {id} for the article's id."""
    query = (
        select(Deadline, Article.title)
        .join(Article, Article.id == Deadline.article_id)
        .where(
            Deadline.kind == DeadlineKind.CLOSES,
            Deadline.precision == DatePrecision.DAY,
            Deadline.date >= today,
            Article.status == ArticleStatus.PUBLISHED,
        )
        .order_by(Deadline.date, Deadline.id)
        .limit(FEED_LIMIT)
    )
    if topic_ids is not None:
        query = query.where(
            Article.id.in_(
                select(ArticleTopic.article_id).where(
                    ArticleTopic.topic_id.in_(topic_ids), ArticleTopic.assigned.is_(True)
                )
            )
        )
    return [
        DeadlineEvent(d.id, d.date, title, article_url.format(id=d.article_id), d.text or "")
        for d, title in session.execute(query)
    ]


def member_calendar(session: Session, member: Member, today: date) -> bytes:
    """A member's private feed: upcoming deadlines in the topics they follow (nothing while
    they are not active)."""
    topic_ids = [s.topic_id for s in member.subscriptions]
    active = member.status == MemberStatus.ACTIVE
    events = upcoming_deadlines(session, topic_ids, today, _article_url()) if active else []
    return calendar_bytes(events, domain=_domain(), name=f"Deadlines · {_site_name()}", feed=True)


def topic_calendar(session: Session, topic: Topic, today: date) -> bytes:
    """A topic's public feed of upcoming deadlines."""
    events = upcoming_deadlines(session, [topic.id], today, _article_url())
    name = f"{topic.name} deadlines · {_site_name()}"
    return calendar_bytes(events, domain=_domain(), name=name, feed=True)


def _article_url() -> str:
    return get_settings().BASE_URL + "/articles/{id}"


def _domain() -> str:
    return _sender().domain


def _site_name() -> str:
    return _sender().name or "newsletter"


def _sender() -> Sender:
    # Imported here: rendering imports this module for the emails' attachments.
    from newsletter.rendering.headers import parse_sender

    return parse_sender(get_settings().FROM_ADDRESS)

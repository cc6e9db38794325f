"""Deadline reminders: a few days before a `closes` deadline, to its article's subscribers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.audience import reminder_audience
from newsletter.config import Settings
from newsletter.delivery import ledger
from newsletter.delivery.alerts import assigned_topic_ids
from newsletter.delivery.fanout import add_audience, create_send
from newsletter.models import (
    Article,
    ArticleStatus,
    DatePrecision,
    Deadline,
    DeadlineKind,
    SendKind,
)
from newsletter.scheduling import due_reminder, local_date, reminder_key


@dataclass(frozen=True)
class ReminderRun:
    send_id: int
    deadline_id: int
    days_before: int
    created: bool
    recipients: int


def run_reminders(session: Session, now: datetime, settings: Settings) -> list[ReminderRun]:
    """Create every reminder due at `now` that does not exist yet (keyed by deadline and days).

    Only deadlines known to the day are reminded: "closes in 7 days" needs a real date. An
    article's deadlines on one day make one reminder, keyed by the first of them (the key a
    lone deadline has always had, so reminders already sent are found again).
    """
    tz = ZoneInfo(settings.TIMEZONE)
    today = local_date(now, tz)
    horizon = today + timedelta(days=max(settings.REMINDER_DAYS, default=0) + 1)
    deadlines = session.execute(
        select(Deadline, Article)
        .join(Article, Article.id == Deadline.article_id)
        .where(
            Deadline.kind == DeadlineKind.CLOSES,
            Deadline.precision == DatePrecision.DAY,
            Deadline.date >= today,
            Deadline.date <= horizon,
            Article.status == ArticleStatus.PUBLISHED,
        )
        .order_by(Deadline.date, Deadline.id)
    ).all()
    runs = []
    days_done: set[tuple[int, date]] = set()
    for deadline, article in deadlines:
        if (article.id, deadline.date) in days_done:
            continue  # told of in the reminder of the article's first deadline that day
        days_done.add((article.id, deadline.date))
        before = due_reminder(
            deadline.date, settings.REMINDER_DAYS, now, tz, settings.REMINDER_HOUR
        )
        topic_ids = assigned_topic_ids(session, article.id)
        if before is None or not topic_ids:
            continue
        runs.append(_remind(session, deadline, article, before, topic_ids, now))
    return runs


def _remind(
    session: Session,
    deadline: Deadline,
    article: Article,
    before: int,
    topic_ids: list[int],
    now: datetime,
) -> ReminderRun:
    audience = reminder_audience(topic_ids)
    when = "today" if before == 0 else f"in {before} day{'s' if before != 1 else ''}"
    send_id, created = create_send(
        session,
        kind=SendKind.REMINDER,
        key=reminder_key(deadline.id, before),
        audience=audience,
        now=now,
        subject=f"Closes {when}: {article.title}"[:500],
        article_id=article.id,
        deadline_id=deadline.id,
    )
    recipients = add_audience(session, send_id, audience, now) if created else 0
    if created:
        ledger.complete_sends(session, now, [send_id])
    return ReminderRun(send_id, deadline.id, before, created, recipients)

"""An article's two deadlines on one day make one reminder telling of both, once."""

from __future__ import annotations

import email
from datetime import UTC, date, datetime, time, timedelta
from email import policy
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from newsletter.delivery import jobs
from newsletter.delivery.backends import memory
from newsletter.inline import inline
from newsletter.models import DatePrecision, Deadline, DeadlineKind
from tests.support.delivery_data import add_article, add_member

DAY = date(2099, 3, 20)
SENTENCES = (
    "Paper bids must arrive by 20 March 2099.",
    "The online portal closes at noon on 20 March 2099.",
)


def texts_to(address: str) -> list[str]:
    found = []
    for message in memory.outbox:
        if message.to == address:
            parsed = email.message_from_bytes(message.data, policy=policy.default)
            part = parsed.get_body(("plain",))
            assert part is not None
            found.append(" ".join(part.get_content().split()))
    return found


def test_two_deadlines_on_one_day_make_one_reminder_with_both(session: Session) -> None:
    memory.clear()
    add_member(session, "ann@example.com", {"funding": "immediate"})
    article = add_article(session, "Capital bids", ["funding"])
    for sentence in SENTENCES:
        article.deadlines.append(
            Deadline(date=DAY, precision=DatePrecision.DAY, kind=DeadlineKind.CLOSES, text=sentence)
        )
    session.commit()
    at = datetime.combine(DAY - timedelta(days=7), time(8, 1), ZoneInfo("Europe/London"))

    with inline():
        first = jobs.reminders_due(as_of=at.astimezone(UTC))
        second = jobs.reminders_due(as_of=at.astimezone(UTC))

    [text] = texts_to("ann@example.com")
    assert "Closes 20 March 2099 (7 days from today)." in text
    assert all(f'"{sentence}"' in text for sentence in SENTENCES)
    assert [run.created for run in first] == [True]
    assert [run.created for run in second] == [False]  # the same key: nothing sent twice
    memory.clear()

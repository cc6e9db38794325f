"""Urgent notices for the acknowledgement tests: members, a notice sent to them, their links."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from urllib.parse import urlsplit

from sqlalchemy import select

from newsletter.chasing import ChaseRule
from newsletter.db import session_scope
from newsletter.delivery import jobs
from newsletter.delivery.announcements import schedule_announcement
from newsletter.inline import inline
from newsletter.models import Delivery, Member, NoticeSend, Send

# A Monday morning: the notice goes at 09:00, its chases are due three days later.
NOTICE_AT = datetime(2026, 12, 7, 9, tzinfo=UTC)
ACK_LINK = re.compile(r"https?://\S+?(/acknowledge/[A-Za-z0-9_.\-]+)")


def schedule_notice(
    subject: str = "SEND register return due",
    topics: tuple[str, ...] = ("funding",),
    roles: tuple[str, ...] = (),
    rule: ChaseRule = ChaseRule(3, 2),
    at: datetime = NOTICE_AT,
) -> int:
    with session_scope() as session:
        send = schedule_announcement(
            session,
            subject=subject,
            body_markdown="Every SENCO must **submit the return** by Friday.",
            topic_slugs=list(topics),
            roles=list(roles),
            at=at,
            actor="comms@example.org",
            now=at - timedelta(hours=1),
            acknowledge=rule,
        )
        return send.id


def send_notice_inline(at: datetime = NOTICE_AT) -> list[int]:
    """Start the sends due at `at` and deliver them here, as beat and a worker would."""
    with inline():
        return jobs.due_sends(at).started


def ack_path(message: EmailMessage) -> str:
    """The path of the "I've read this" link in an email's text part."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    found = ACK_LINK.search(part.get_content())
    assert found, f"no acknowledge link in: {part.get_content()}"
    return urlsplit(found.group(0)).path


def parsed(data: bytes) -> EmailMessage:
    return message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


def chase_sends(notice_id: int) -> list[int]:
    """The notice's chase sends, in round order."""
    with session_scope() as session:
        return list(
            session.scalars(
                select(NoticeSend.send_id)
                .where(NoticeSend.notice_id == notice_id, NoticeSend.round > 0)
                .order_by(NoticeSend.round)
            )
        )


def recipients_of(send_id: int) -> set[str]:
    with session_scope() as session:
        return set(
            session.scalars(
                select(Member.email)
                .join(Delivery, Delivery.member_id == Member.id)
                .where(Delivery.send_id == send_id)
            )
        )


def subject_of(send_id: int) -> str:
    with session_scope() as session:
        send = session.get(Send, send_id)
        assert send is not None
        return send.subject

"""Helpers for the web tests: reading captured emails and pages, and checking what is stored."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from urllib.parse import urlsplit

from sqlalchemy import select

from newsletter.db import session_scope
from newsletter.delivery.backends.memory import outbox
from newsletter.models import Delivery, DeliveryStatus, Member, MemberStatus
from newsletter.preferences import subscription_map


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


# --- captured email ----------------------------------------------------------------------


def sent_to(address: str) -> list[EmailMessage]:
    """Every email the memory backend captured for this address, oldest first."""
    return [
        message_from_bytes(m.data, policy=policy.default)  # type: ignore[misc]
        for m in outbox
        if m.to == address
    ]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def link_path(message: EmailMessage, kind: str) -> str:
    """The path of the first /KIND/<token> link in an email's text part."""
    found = re.search(rf"https?://\S+/{kind}/[A-Za-z0-9_.\-]+", text_of(message))
    assert found, f"no /{kind}/ link in: {text_of(message)}"
    return urlsplit(found.group(0)).path


def outbox_is_empty() -> bool:
    return not outbox


# --- what is stored -----------------------------------------------------------------------


def member(db_url: str, email: str) -> Member:
    with session_scope(db_url) as session:
        found = session.scalar(select(Member).where(Member.email == email))
        assert found is not None
        found.subscriptions  # noqa: B018 - load them before the session closes
        session.expunge(found)
        return found


def topics_of(db_url: str, email: str) -> dict[str, str]:
    with session_scope(db_url) as session:
        found = session.scalar(select(Member).where(Member.email == email))
        assert found is not None
        return {slug: f.value for slug, f in subscription_map(session, found).items()}


def status_of(db_url: str, email: str) -> MemberStatus:
    with session_scope(db_url) as session:
        status = session.scalar(select(Member.status).where(Member.email == email))
        assert status is not None
        return status


def delivery_status(db_url: str, send_id: int | None, email: str) -> DeliveryStatus:
    with session_scope(db_url) as session:
        status = session.scalar(
            select(Delivery.status)
            .join(Member, Member.id == Delivery.member_id)
            .where(Delivery.send_id == send_id, Member.email == email)
        )
        assert status is not None
        return status

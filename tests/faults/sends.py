"""Starting a send the way staff do (publish a breaking article), and watching the ledger."""

from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import select

from newsletter import dispatch
from newsletter.db import session_scope
from newsletter.delivery.alerts import alert_key
from newsletter.links import read_unsubscribe_token
from newsletter.models import Delivery, DeliveryStatus, Member, Priority, Send, SendStatus
from tests.faults.smtp import RecordingSmtpServer
from tests.support import delivery_data
from tests.support.delivery_data import add_article, send_status
from tests.support.worker import wait_for


def publish_breaking(title: str, topic: str = "funding") -> int:
    """Publish a breaking article about `topic`; returns its alert's send id once fanned out."""
    with session_scope() as session:
        article_id = add_article(session, title, [topic], priority=Priority.BREAKING).id
    dispatch.article_published(article_id)
    wait_for(
        lambda: delivery_data.send_of(alert_key(article_id)) is not None,
        60,
        "the alert was not fanned out",
    )
    found = delivery_data.send_of(alert_key(article_id))
    assert found is not None
    return found


def ledger(send: int) -> Counter[str]:
    """How many of the send's deliveries are in each status."""
    with session_scope() as session:
        statuses = session.scalars(select(Delivery.status).where(Delivery.send_id == send))
        return Counter(status.value for status in statuses)


def wait_until_finished(send: int, timeout: float) -> None:
    wait_for(
        lambda: send_status(send) in (SendStatus.SENT, SendStatus.FAILED),
        timeout,
        f"send {send} not finished",
        poll=0.5,
    )


def unsent(send: int) -> list[tuple[str, str, int, str]]:
    """(address, status, attempts, last error) of each of the send's rows that was not sent."""
    with session_scope() as session:
        rows = session.execute(
            select(Member.email, Delivery.status, Delivery.attempts, Delivery.last_error)
            .join(Member, Member.id == Delivery.member_id)
            .where(Delivery.send_id == send, Delivery.status != DeliveryStatus.SENT)
        )
        return [(email, status.value, attempts, error) for email, status, attempts, error in rows]


def attempts_not_seen(send: int, smtp: RecordingSmtpServer) -> list[tuple[str, int, int]]:
    """(address, attempts in the ledger, RCPTs the server saw) of each of the send's members
    whose ledger counts an attempt that never reached the server."""
    with session_scope() as session:
        rows = session.execute(
            select(Member.email, Delivery.attempts)
            .join(Member, Member.id == Delivery.member_id)
            .where(Delivery.send_id == send)
        )
        counted = [(email, attempts, smtp.rcpt_attempts(email)) for email, attempts in rows]
    return [row for row in counted if row[1] != row[2]]


def send_of(message_data: bytes) -> int:
    """The send a delivered email belongs to, read from its signed one-click link."""
    found = re.search(rb"/unsubscribe/([A-Za-z0-9_.\-]+)>", message_data)
    assert found, "no List-Unsubscribe link"
    _, send, _ = read_unsubscribe_token(found.group(1).decode())
    return send


def keys_by_send() -> dict[int, str]:
    with session_scope() as session:
        return {i: key or str(i) for i, key in session.execute(select(Send.id, Send.key))}


def received_by_send(smtp: RecordingSmtpServer) -> Counter[str]:
    """Copies accepted, counted per "address send-key": one per member and send is owed."""
    keys = keys_by_send()
    return Counter(f"{m.rcpt_tos[0]} {keys[send_of(m.data)]}" for m in smtp.messages)


def unfinished() -> int:
    """Sends scheduled or still sending."""
    waiting = (SendStatus.SCHEDULED, SendStatus.SENDING)
    with session_scope() as session:
        return len(session.scalars(select(Send.id).where(Send.status.in_(waiting))).all())

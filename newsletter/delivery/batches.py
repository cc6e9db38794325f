"""Send one batch of a send's deliveries: claim its rows, render, personalise, send, record.

The send is read once per batch and passed along. The whole batch goes over one backend
connection, paced by the shared rate limiter, and each message is recorded as soon as it is
handed over (see handover.py); the rendering of a (send, variant) is prepared once per process
and reused by every later batch (email_cache.py).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.audience import Audience, send_scope
from newsletter.config import Settings, get_settings
from newsletter.db import session_scope
from newsletter.delivery import ledger
from newsletter.delivery.backends.base import Outcome, SendResult
from newsletter.delivery.email_cache import catalogue_for, email_for
from newsletter.delivery.handover import send_and_record
from newsletter.models import DeliveryStatus, Member, Send, Subscription, utcnow
from newsletter.observability import metrics

if TYPE_CHECKING:
    from newsletter.rendering import OutgoingMessage

log = logging.getLogger(__name__)


@dataclass
class BatchReport:
    claimed: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    error: str = ""


def run_batch(
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
        send = session.get(Send, send_id)
        if send is None:  # its rows went with it
            return BatchReport()
        audience = Audience.from_json(send.audience or {})
        claimed_at = time.monotonic()
        claimed = ledger.claim(
            session, send_id, delivery_ids, utcnow(), set_aside, ledger.still_eligible(audience)
        )
    report = BatchReport(claimed=len(claimed))
    counts = set_aside
    if claimed:
        try:
            handed_over, report.error = _compose_and_send(
                send, audience, claimed, claimed_at, settings
            )
        except BaseException as exc:
            if release_on_error:
                _release(claimed, exc)
            raise
        counts = counts + handed_over
        report.counts = {status.value: n for status, n in handed_over.items()}
    outcomes = {status.value: n for status, n in counts.items()}
    metrics.count_emails(send.kind.value, outcomes)
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
    send: Send,
    audience: Audience,
    claimed: list[ledger.Claimed],
    claimed_at: float,
    settings: Settings,
) -> tuple[Counter[DeliveryStatus], str]:
    with session_scope() as session:
        messages, failures = compose(session, send, claimed, settings)
        counts = Counter(ledger.record(session, failures, utcnow(), ledger.backoff_from(settings)))
    if not messages:
        return counts, ""
    handed_over, error = send_and_record(messages, audience, settings, claimed_at)
    return counts + handed_over, error


def compose(
    session: Session, send: Send, claimed: Sequence[ledger.Claimed], settings: Settings
) -> tuple[list[tuple[ledger.Claimed, OutgoingMessage]], list[ledger.Attempt]]:
    """Personalised messages for the claimed rows, and failures for any that cannot render."""
    from newsletter.rendering import Recipient, RecipientError, TemplateError

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
            prepared = email_for(session, send, row.content, settings)
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
    names = catalogue_for(session, send, settings).names
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

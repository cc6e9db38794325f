"""The ledger: every state change of a Delivery row, each made with a conditional UPDATE.

pending -> sending (claimed by one worker; the WHERE on status makes a second claim a no-op)
sending -> sent | deferred (retry later, with backoff) | failed (+ suppression on hard bounce)
pending -> cancelled (member left the audience) | suppressed (address on the suppression list)
A recovery sweep turns rows stuck in `sending` and due `deferred` rows back into `pending`,
and marks a send finished when none of its rows is pending, sending or deferred.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, or_, select, update
from sqlalchemy.orm import Session

from newsletter.audience import Audience
from newsletter.config import Settings
from newsletter.delivery.backends.base import Outcome, SendResult
from newsletter.delivery.fanout import in_audience, insert_for, is_suppressed, may_receive
from newsletter.models import (
    Delivery,
    DeliveryStatus,
    Member,
    MemberStatus,
    Send,
    SendStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from newsletter.scheduling import Backoff

UNFINISHED = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.DEFERRED)
_table = Delivery.__table__


def backoff_from(settings: Settings) -> Backoff:
    return Backoff(
        max_attempts=settings.RETRY_MAX_ATTEMPTS,
        base_seconds=settings.RETRY_BASE_SECONDS,
        jitter=settings.RETRY_JITTER,
    )


@dataclass(frozen=True)
class Claimed:
    id: int
    member_id: int
    attempts: int
    content: dict[str, Any] | None


def claim(
    session: Session, send_id: int, delivery_ids: Sequence[int], now: datetime
) -> list[Claimed]:
    """Take the still-pending rows for sending; drop those whose member may no longer receive.

    The member's status, suppression and subscription are checked in the claiming statement
    itself, so an unsubscribe that lands after fan-out still stops the email.
    """
    if not delivery_ids:
        return []
    audience = Audience.from_json(session.scalar(select(Send.audience).where(Send.id == send_id)))
    member_ok = (
        select(Member.id)
        .where(Member.id == Delivery.member_id, may_receive(), in_audience(audience))
        .exists()
    )
    mine = and_(
        Delivery.id.in_(delivery_ids),
        Delivery.send_id == send_id,
        Delivery.status == DeliveryStatus.PENDING,
    )
    rows = session.execute(
        update(Delivery)
        .where(mine, member_ok)
        .values(status=DeliveryStatus.SENDING, claimed_at=now, attempts=Delivery.attempts + 1)
        .returning(Delivery.id, Delivery.member_id, Delivery.attempts, Delivery.content)
        .execution_options(synchronize_session=False)
    ).all()
    suppressed = exists().where(Member.id == Delivery.member_id, is_suppressed())
    session.execute(
        update(Delivery)
        .where(mine)
        .values(
            status=case(
                (suppressed, DeliveryStatus.SUPPRESSED.value),
                else_=DeliveryStatus.CANCELLED.value,
            ),
            last_error=case(
                (suppressed, "address is on the suppression list"),
                else_="member no longer active or subscribed",
            ),
        )
        .execution_options(synchronize_session=False)
    )
    return [Claimed(r.id, r.member_id, r.attempts, r.content) for r in rows]


@dataclass(frozen=True)
class Attempt:
    """One claimed delivery and what the backend said about it."""

    claimed: Claimed
    result: SendResult
    message_id: str | None = None


def record(
    session: Session,
    attempts: Sequence[Attempt],
    now: datetime,
    backoff: Backoff,
    rng: random.Random | None = None,
) -> dict[DeliveryStatus, int]:
    """Write each result with one statement per outcome (executemany); returns the counts."""
    updates: dict[DeliveryStatus, list[dict[str, Any]]] = defaultdict(list)
    bounced: list[tuple[int, str]] = []
    for attempt in attempts:
        status, values = _outcome(attempt, now, backoff, rng)
        updates[status].append({"b_id": attempt.claimed.id, **values})
        if attempt.result.hard_bounce:
            bounced.append((attempt.claimed.member_id, _describe(attempt.result)))
    for status, params in updates.items():
        session.execute(
            update(_table)
            .where(_table.c.id == bindparam("b_id"), _table.c.status == DeliveryStatus.SENDING)
            .values(
                status=status,
                message_id=bindparam("b_message_id"),
                sent_at=bindparam("b_sent_at"),
                next_attempt_at=bindparam("b_next"),
                last_error=bindparam("b_error"),
            ),
            params,
        )
    if bounced:
        suppress_bounced(session, bounced)
    return {status: len(params) for status, params in updates.items()}


def _describe(result: SendResult) -> str:
    if result.code and not result.detail.startswith(str(result.code)):
        return f"{result.code} {result.detail}".strip()
    return result.detail


def _outcome(
    attempt: Attempt, now: datetime, backoff: Backoff, rng: random.Random | None
) -> tuple[DeliveryStatus, dict[str, Any]]:
    result = attempt.result
    values: dict[str, Any] = {
        "b_message_id": None,
        "b_sent_at": None,
        "b_next": None,
        "b_error": _describe(result),
    }
    if result.outcome == Outcome.SENT:
        return DeliveryStatus.SENT, {
            **values,
            "b_message_id": attempt.message_id,
            "b_sent_at": now,
            "b_error": "",
        }
    if result.outcome == Outcome.DEFERRED:
        retry_at = backoff.next_attempt(attempt.claimed.attempts, now, rng)
        if retry_at is not None:
            return DeliveryStatus.DEFERRED, {**values, "b_next": retry_at}
        values["b_error"] = (
            f"gave up after {attempt.claimed.attempts} attempts: {values['b_error']}"
        )
    return DeliveryStatus.FAILED, values


def suppress_bounced(session: Session, bounced: Iterable[tuple[int, str]]) -> None:
    """A hard bounce suppresses the address for good and marks the member bounced."""
    reasons = dict(bounced)
    emails = dict(
        session.execute(select(Member.id, Member.email).where(Member.id.in_(reasons))).all()
    )
    session.execute(
        insert_for(session, Suppression).on_conflict_do_nothing(index_elements=["email"]),
        [
            {
                "email": email,
                "reason": SuppressionReason.HARD_BOUNCE,
                "note": reasons[member_id],
                "created_at": utcnow(),
            }
            for member_id, email in emails.items()
        ],
    )
    session.execute(
        update(Member)
        .where(Member.id.in_(reasons))
        .values(status=MemberStatus.BOUNCED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def defer_all(
    session: Session, claimed: Sequence[Claimed], reason: str, now: datetime, backoff: Backoff
) -> dict[DeliveryStatus, int]:
    """The backend could not be reached at all: every claimed row waits for a later attempt."""
    result = SendResult(Outcome.DEFERRED, None, reason)
    return record(session, [Attempt(c, result) for c in claimed], now, backoff)


# Recovery ----------------------------------------------------------------------------------


def recover(session: Session, now: datetime, settings: Settings) -> dict[int, list[int]]:
    """Put lost work back in the queue; returns {send_id: [delivery ids to enqueue]}.

    - `sending` rows claimed longer ago than SENDING_TIMEOUT_SECONDS (a worker died mid-batch):
      pending again, or failed when their attempts are used up;
    - `deferred` rows whose next attempt is due: pending again;
    - `pending` rows queued long ago and never claimed (a lost broker message): queued again.
    """
    stuck_before = now - timedelta(seconds=settings.SENDING_TIMEOUT_SECONDS)
    stuck = and_(Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_at < stuck_before)
    session.execute(
        update(Delivery)
        .where(stuck, Delivery.attempts >= settings.RETRY_MAX_ATTEMPTS)
        .values(status=DeliveryStatus.FAILED, last_error="worker stopped mid-send too often")
        .execution_options(synchronize_session=False)
    )
    stale_before = now - timedelta(seconds=settings.REQUEUE_PENDING_AFTER_SECONDS)
    again = or_(
        stuck,
        and_(Delivery.status == DeliveryStatus.DEFERRED, Delivery.next_attempt_at <= now),
        and_(Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at < stale_before),
    )
    rows = session.execute(
        update(Delivery)
        .where(again)
        .values(status=DeliveryStatus.PENDING, next_attempt_at=now)
        .returning(Delivery.send_id, Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    queued: dict[int, list[int]] = defaultdict(list)
    for send_id, delivery_id in rows:
        queued[send_id].append(delivery_id)
    return {send_id: sorted(ids) for send_id, ids in queued.items()}


def complete_sends(session: Session, now: datetime, send_ids: Iterable[int] | None = None) -> int:
    """Mark finished every sending send with no row left to try; returns how many."""
    unfinished = exists().where(Delivery.send_id == Send.id, Delivery.status.in_(UNFINISHED))
    any_sent = exists().where(Delivery.send_id == Send.id, Delivery.status == DeliveryStatus.SENT)
    any_failed = exists().where(
        Delivery.send_id == Send.id, Delivery.status == DeliveryStatus.FAILED
    )
    statement = (
        update(Send)
        .where(Send.status == SendStatus.SENDING, ~unfinished)
        .values(
            status=case(
                (and_(any_failed, ~any_sent), SendStatus.FAILED.value),
                else_=SendStatus.SENT.value,
            ),
            finished_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if send_ids is not None:
        statement = statement.where(Send.id.in_(list(send_ids)))
    return session.execute(statement).rowcount or 0


def requeue_failed(session: Session, send_id: int, now: datetime) -> int:
    """Give a send's failed deliveries a fresh set of attempts; sent ones are never touched."""
    count = (
        session.execute(
            update(Delivery)
            .where(Delivery.send_id == send_id, Delivery.status == DeliveryStatus.FAILED)
            .values(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, last_error="")
            .execution_options(synchronize_session=False)
        ).rowcount
        or 0
    )
    if count:
        session.execute(
            update(Send)
            .where(Send.id == send_id, Send.status.in_([SendStatus.SENT, SendStatus.FAILED]))
            .values(status=SendStatus.SENDING, finished_at=None)
            .execution_options(synchronize_session=False)
        )
    return count

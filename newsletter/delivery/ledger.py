"""The ledger: every state change of a Delivery row, each made with a conditional UPDATE.

pending -> sending (claimed by one worker; the WHERE on status makes a second claim a no-op)
sending -> sent | deferred (retry later, with backoff) | failed (+ suppression on hard bounce)
pending -> cancelled (member left the audience) | suppressed (address on the suppression list)
sending -> cancelled | suppressed, when the member left between the claim and their turn
A recovery sweep turns rows stuck in `sending` and due `deferred` rows back into `pending`,
and marks a send finished when none of its rows is pending, sending or deferred and its
fan-out has written them all (a streamed fan-out is still writing: streaming.py).

Members' own emails (newsletter/member_mail.py) use the same rows: their sends take new rows
for a day (MEMBER_MAIL_OPEN), and their pending rows are queued again after a minute
(MEMBER_MAIL_REQUEUE) rather than an hour, since a member is waiting for each of them.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    Update,
    and_,
    bindparam,
    case,
    exists,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from newsletter.audience import Audience
from newsletter.config import Settings
from newsletter.db import insert_for, rows_changed
from newsletter.delivery.backends.base import Outcome, SendResult
from newsletter.delivery.eligibility import (
    member_in_audience,
    member_may_receive,
    member_suppressed,
)
from newsletter.models import (
    Delivery,
    DeliveryStatus,
    Member,
    MemberStatus,
    Send,
    SendKind,
    SendStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from newsletter.scheduling import Backoff

UNFINISHED = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.DEFERRED)
_table = cast(Table, Delivery.__table__)
# A member-mail send takes rows during its UTC day: it cannot finish before the day is over
# (with an hour to spare for a transaction still open at midnight).
MEMBER_MAIL_OPEN = timedelta(hours=25)
MEMBER_MAIL_REQUEUE = timedelta(minutes=1)


def backoff_from(settings: Settings) -> Backoff:
    return Backoff(
        max_attempts=settings.RETRY_MAX_ATTEMPTS,
        base_seconds=settings.RETRY_BASE_SECONDS,
        jitter=settings.RETRY_JITTER,
    )


def settled_within(settings: Settings) -> timedelta:
    """How long after it is made a delivery has at the latest been sent or failed, while the
    workers and the recovery sweep run: every retry's wait at its longest, a stuck claim's
    timeout on each attempt, a lost message's re-queue, and an hour to spare."""
    backoff = backoff_from(settings)
    waits = backoff.total_span() * (1 + backoff.jitter)
    stuck = settings.SENDING_TIMEOUT_SECONDS * settings.RETRY_MAX_ATTEMPTS
    lost = settings.REQUEUE_PENDING_AFTER_SECONDS
    return waits + timedelta(seconds=stuck + lost, hours=1)


@dataclass(frozen=True)
class Claimed:
    id: int
    member_id: int
    attempts: int
    content: dict[str, Any] | None


def claim(
    session: Session,
    send_id: int,
    delivery_ids: Sequence[int],
    now: datetime,
    set_aside: Counter[DeliveryStatus] | None = None,
    condition: ColumnElement[bool] | None = None,
) -> list[Claimed]:
    """Take the still-pending rows for sending; drop those whose member may no longer receive
    (counted into `set_aside` by their new status, when given).

    The member's status, suppression and subscription are checked in the claiming statement
    itself, so an unsubscribe that lands after fan-out still stops the email. `condition`
    replaces that check (a member's own emails go to pending and unsubscribed members too).
    """
    if not delivery_ids:
        return []
    mine = and_(
        Delivery.id.in_(delivery_ids),
        Delivery.send_id == send_id,
        Delivery.status == DeliveryStatus.PENDING,
    )
    if condition is None:
        condition = still_eligible(send_audience(session, send_id))
    rows = session.execute(
        update(Delivery)
        .where(mine, condition)
        .values(status=DeliveryStatus.SENDING, claimed_at=now, attempts=Delivery.attempts + 1)
        .returning(Delivery.id, Delivery.member_id, Delivery.attempts, Delivery.content)
        .execution_options(synchronize_session=False)
    ).all()
    if len(rows) < len(set(delivery_ids)):  # some were not ours to take, or not wanted
        statuses = _set_aside_ineligible(session, mine, condition)
        if set_aside is not None:
            set_aside.update(statuses)
    return [Claimed(r.id, r.member_id, r.attempts, r.content) for r in rows]


def send_kinds(session: Session, send_ids: Iterable[int]) -> dict[int, SendKind]:
    """The kind of each of these sends (which queue its batches go to)."""
    wanted = list(send_ids)
    if not wanted:
        return {}
    rows = session.execute(select(Send.id, Send.kind).where(Send.id.in_(wanted)))
    return {send_id: kind for send_id, kind in rows}


def send_audience(session: Session, send_id: int) -> Audience:
    return Audience.from_json(session.scalar(select(Send.audience).where(Send.id == send_id)) or {})


def still_eligible(audience: Audience) -> ColumnElement[bool]:
    """The delivery's member may still receive mail and is still in the send's audience."""
    return (
        select(Member.id)
        .where(Member.id == Delivery.member_id, member_may_receive(), member_in_audience(audience))
        .exists()
    )


def _set_aside_ineligible(
    session: Session, where: ColumnElement[bool], wanted_now: ColumnElement[bool]
) -> list[DeliveryStatus]:
    """Rows whose member may no longer receive this send (not `wanted_now`): suppressed or
    cancelled.

    The statement judges each row's member afresh (audience.claim_verdict's first two cases)
    instead of trusting an earlier statement's view: on PostgreSQL each statement sees what
    was committed when it began, and a row can become pending between a claim's UPDATE and
    this one (the recovery sweep re-queueing a deferred row that a late duplicate batch
    also names). Taken as "not wanted", such rows were cancelled for members still
    subscribed: the flaky-SMTP fault scenario lost 6-11 members that way (issue 17).
    """
    suppressed = exists().where(Member.id == Delivery.member_id, member_suppressed())
    statuses = session.scalars(
        update(Delivery)
        .where(where, ~wanted_now)
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
        .returning(Delivery.status)
        .execution_options(synchronize_session=False)
    )
    return list(statuses)


def lock_and_recheck(session: Session, claimed: Sequence[Claimed], audience: Audience) -> set[int]:
    """Lock these rows' members until the transaction ends; returns the ids of the rows still
    ours (not taken back by the sweep) whose member may still receive the send.

    Begin the copies while the transaction is open: an unsubscribe, a pause or a change of
    topics writes the member's row (consent.py makes sure of it), so it waits, and once it has
    returned no copy it should have stopped is begun (holds.py keeps the transaction short).

    Two statements: the member rows are locked first (FOR SHARE, in id order), which waits for
    any change already under way; the check then reads what is committed by then. Locking the
    subscription rows too, in the check's join, deadlocked with unsubscribes that delete a
    subscription before they update the member. SQLite has no row locks: there only the check
    is made.
    """
    if not claimed:
        return set()
    members = sorted({c.member_id for c in claimed})
    session.execute(
        select(Member.id)
        .where(Member.id.in_(members))
        .order_by(Member.id)
        .with_for_update(read=True)
    ).all()
    rows = session.execute(
        select(Delivery.id, Delivery.attempts)
        .join(Member, Member.id == Delivery.member_id)
        .where(
            Delivery.id.in_([c.id for c in claimed]),
            Delivery.status == DeliveryStatus.SENDING,
            member_may_receive(),
            member_in_audience(audience),
        )
    ).all()
    ours = {(c.id, c.attempts) for c in claimed}
    return {delivery_id for delivery_id, attempts in rows if (delivery_id, attempts) in ours}


def renew_claims(session: Session, claimed: Sequence[Claimed], now: datetime) -> int:
    """The worker holding these rows is alive: move their claim to `now`, so that the recovery
    sweep does not take them back from a batch slower than SENDING_TIMEOUT_SECONDS (a slow SMTP
    server, a low rate limit, a loaded machine) and send them a second time."""
    if not claimed:
        return 0
    statement = (
        update(Delivery)
        .where(
            tuple_(Delivery.id, Delivery.attempts).in_([(c.id, c.attempts) for c in claimed]),
            Delivery.status == DeliveryStatus.SENDING,
        )
        .values(claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(session.execute(statement))


def set_aside_claimed(
    session: Session, claimed: Claimed, audience: Audience
) -> dict[DeliveryStatus, int]:
    """A claimed row whose member left the audience after the claim: not sent, and why.

    A row whose member qualifies again by now stays `sending`: it was not held, so it is not
    sent here, and the recovery sweep hands it out again after SENDING_TIMEOUT_SECONDS."""
    where = and_(*_still_claimed(claimed.id, claimed.attempts))
    statuses = _set_aside_ineligible(session, where, still_eligible(audience))
    return {status: 1 for status in statuses}


def put_aside(
    session: Session, claimed: Claimed, status: DeliveryStatus, reason: str
) -> DeliveryStatus | None:
    """A claimed row that is not to be sent after all (cancelled, suppressed), and why;
    None when the row is no longer ours."""
    result = session.execute(
        update(Delivery)
        .where(*_still_claimed(claimed.id, claimed.attempts))
        .values(status=status, last_error=reason)
        .execution_options(synchronize_session=False)
    )
    done = rows_changed(result)
    return status if done else None


def _still_claimed(delivery_id: Any, attempts: Any) -> list[ColumnElement[bool]]:
    # A row the sweep took back (and maybe another worker claimed again) is no longer ours:
    # each claim counts an attempt, so the count tells our claim from a later one.
    return [
        _table.c.id == delivery_id,
        _table.c.status == DeliveryStatus.SENDING,
        _table.c.attempts == attempts,
    ]


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
    """Write each result, and suppress the addresses that hard-bounced; returns the counts."""
    counts = write_results(session, attempts, now, backoff, rng)
    bounced = hard_bounces(attempts)
    if bounced:
        suppress_bounced(session, bounced)
    return counts


def write_results(
    session: Session,
    attempts: Sequence[Attempt],
    now: datetime,
    backoff: Backoff,
    rng: random.Random | None = None,
) -> dict[DeliveryStatus, int]:
    """Each result in one statement (executemany), on rows still ours only; returns the counts.

    The statement is built once: a delivery's result is written the moment the server has
    answered, so this runs once a message."""
    params = [result_params(attempt, now, backoff, rng) for attempt in attempts]
    if params:
        # One row: a plain execute, which is faster than executemany.
        session.execute(_write_result(), params if len(params) > 1 else params[0])
    return dict(Counter(p["b_status"] for p in params))


def result_params(
    attempt: Attempt, now: datetime, backoff: Backoff, rng: random.Random | None = None
) -> dict[str, Any]:
    """The values the result statement writes for one attempt (b_status: the new status)."""
    status, values = _outcome(attempt, now, backoff, rng)
    ours = {"b_id": attempt.claimed.id, "b_attempts": attempt.claimed.attempts}
    return {**ours, "b_status": status, **values}


@cache
def _write_result() -> Update:
    return (
        update(_table)
        .where(*_still_claimed(bindparam("b_id"), bindparam("b_attempts")))
        .values(
            status=bindparam("b_status"),
            message_id=bindparam("b_message_id"),
            sent_at=bindparam("b_sent_at"),
            next_attempt_at=bindparam("b_next"),
            last_error=bindparam("b_error"),
        )
    )


def hard_bounces(attempts: Sequence[Attempt]) -> list[tuple[int, str]]:
    """(member id, reason) of each attempt the server refused because the address is bad."""
    return [(a.claimed.member_id, _describe(a.result)) for a in attempts if a.result.hard_bounce]


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


# Recovery ----------------------------------------------------------------------------------


def recover(session: Session, now: datetime, settings: Settings) -> dict[int, list[int]]:
    """Put lost work back in the queue; returns {send_id: [delivery ids to enqueue]}.

    - `sending` rows claimed longer ago than SENDING_TIMEOUT_SECONDS (a worker died mid-batch):
      pending again, or failed when their attempts are used up;
    - `deferred` rows whose next attempt is due: pending again;
    - `pending` rows queued long ago and never claimed (a lost broker message): queued again.
    """
    stuck_before = now - timedelta(seconds=settings.SENDING_TIMEOUT_SECONDS)
    # Only a send still sending has unfinished rows (complete_sends). Their ids, few, as
    # values: each send's rows are then read through (send_id, member_id), not through an
    # index holding the status, which each claim and result had to maintain (ADR 0024).
    sending = list(session.scalars(select(Send.id).where(Send.status == SendStatus.SENDING)))
    if not sending:
        return {}
    stuck = and_(
        Delivery.send_id.in_(sending),
        Delivery.status == DeliveryStatus.SENDING,
        Delivery.claimed_at < stuck_before,
    )
    session.execute(
        update(Delivery)
        .where(stuck, Delivery.attempts >= settings.RETRY_MAX_ATTEMPTS)
        .values(status=DeliveryStatus.FAILED, last_error="worker stopped mid-send too often")
        .execution_options(synchronize_session=False)
    )
    stale_before = now - timedelta(seconds=settings.REQUEUE_PENDING_AFTER_SECONDS)
    member_mail = select(Send.id).where(Send.id.in_(sending), Send.kind == SendKind.MEMBER_MAIL)
    again = or_(
        stuck,
        and_(
            Delivery.send_id.in_(sending),
            Delivery.status == DeliveryStatus.DEFERRED,
            Delivery.next_attempt_at <= now,
        ),
        and_(
            Delivery.send_id.in_(sending),
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.queued_at < stale_before,
        ),
        and_(
            Delivery.send_id.in_(member_mail),
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.queued_at < now - MEMBER_MAIL_REQUEUE,
        ),
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
    """Mark finished every sending send with no row left to try and none still to be written
    (its fan-out is over); returns how many."""
    # From the send's last member backwards: while a send is under way its last rows are still
    # pending (batches go out in order), so the search stops at once until its last batches.
    unfinished = _send_has(Delivery.status.in_(UNFINISHED), Delivery.member_id.desc())
    any_sent = _send_has(Delivery.status == DeliveryStatus.SENT, Delivery.member_id.asc())
    any_failed = _send_has(Delivery.status == DeliveryStatus.FAILED, Delivery.member_id.asc())
    still_open = and_(Send.kind == SendKind.MEMBER_MAIL, Send.created_at > now - MEMBER_MAIL_OPEN)
    statement = (
        update(Send)
        .where(
            Send.status == SendStatus.SENDING,
            Send.fanout_progress_at.is_(None),
            ~unfinished,
            ~still_open,
        )
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
    return rows_changed(session.execute(statement))


def _send_has(condition: ColumnElement[bool], order: ColumnElement[Any]) -> ColumnElement[bool]:
    """Whether the Send (correlated) has a row meeting `condition`: a look through the send's
    own rows in (send_id, member_id) (no index holds the status, ADR 0024) that stops at the
    first found, in `order` (by member_id: the order of that index).

    Not EXISTS: PostgreSQL drops an EXISTS subquery's ORDER BY, and then chose a hashed scan
    of the whole ledger (every send's rows), or a plain scan of the table from its start."""
    first = (
        select(Delivery.id)
        .where(Delivery.send_id == Send.id, condition)
        .order_by(order)
        .limit(1)
        .scalar_subquery()
    )
    return first.is_not(None)


def requeue_deferred(session: Session, send_id: int, now: datetime) -> int:
    """Make a send's deferred deliveries due now (their attempts so far still count)."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.send_id == send_id, Delivery.status == DeliveryStatus.DEFERRED)
        .values(status=DeliveryStatus.PENDING, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(result)


def release(session: Session, claimed: Sequence[Claimed], reason: str, now: datetime) -> None:
    """Rows this process claimed but will not finish (it is stopping): deferred and due now,
    so the next run, a `sends retry` or the sweep's next pass takes them at once instead of
    after SENDING_TIMEOUT_SECONDS. Rows already answered, or taken back, are left alone."""
    if not claimed:
        return
    # On the table, not the ORM class: with a list of parameters the ORM would want ids.
    statement = (
        update(_table)
        .where(*_still_claimed(bindparam("b_id"), bindparam("b_attempts")))
        .values(status=DeliveryStatus.DEFERRED, next_attempt_at=now, last_error=reason)
    )
    session.execute(statement, [{"b_id": c.id, "b_attempts": c.attempts} for c in claimed])


def requeue_failed(session: Session, send_id: int, now: datetime) -> int:
    """Give a send's failed deliveries a fresh set of attempts; sent ones are never touched."""
    count = rows_changed(
        session.execute(
            update(Delivery)
            .where(Delivery.send_id == send_id, Delivery.status == DeliveryStatus.FAILED)
            .values(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, last_error="")
            .execution_options(synchronize_session=False)
        )
    )
    if count:
        session.execute(
            update(Send)
            .where(Send.id == send_id, Send.status.in_([SendStatus.SENT, SendStatus.FAILED]))
            .values(status=SendStatus.SENDING, finished_at=None)
            .execution_options(synchronize_session=False)
        )
    return count

"""Staff's scheduled sends: schedule, cancel, start when due (once), test, retry.

Starting a send is one conditional UPDATE (scheduled -> sending) followed, in the same
transaction, by its fan-out: two beat processes or two workers can race for it, only one wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsletter import audit, send_windows
from newsletter.acknowledgements import require_acknowledgement
from newsletter.audience import Audience, announcement_audience
from newsletter.chasing import ChaseRule
from newsletter.config import Settings, get_settings
from newsletter.db import rows_changed
from newsletter.delivery import alerts, history, ledger
from newsletter.delivery.backends.base import SendResult
from newsletter.delivery.fanout import add_audience, create_send
from newsletter.models import Member, Send, SendKind, SendStatus, Topic, utcnow
from newsletter.scheduling import Due, SchedulingError, check_schedulable, scheduled_state


class SendError(ValueError):
    """A request about a send that cannot be carried out; the message says why."""


def schedule_announcement(
    session: Session,
    *,
    subject: str,
    body_markdown: str,
    topic_slugs: list[str],
    roles: list[str],
    at: datetime,
    actor: str,
    now: datetime | None = None,
    respect_window: bool = False,
    acknowledge: ChaseRule | None = None,
) -> Send:
    """Announcements go at their time, the send window or not, unless staff ask to respect
    it: then a time outside it is held until it next opens. `acknowledge`: an urgent notice
    members acknowledge, chased by that rule."""
    now = now or utcnow()
    if not subject.strip():
        raise SendError("the subject is empty")
    if not body_markdown.strip():
        raise SendError("the body is empty")
    if not topic_slugs:
        raise SendError("choose at least one topic (--topic SLUG)")
    topics = dict(
        session.execute(select(Topic.slug, Topic.id).where(Topic.slug.in_(topic_slugs))).all()
    )
    unknown = sorted(set(topic_slugs) - set(topics))
    if unknown:
        raise SendError(f"unknown topic {unknown[0]!r}")
    try:
        check_schedulable(at, now)
    except SchedulingError as exc:
        raise SendError(str(exc)) from None
    held_until = send_windows.hold_until(get_settings(), at) if respect_window else None
    held = held_until is not None
    at = held_until or at
    send_id, _ = create_send(
        session,
        kind=SendKind.ANNOUNCEMENT,
        key=None,
        audience=announcement_audience(topics.values(), roles),
        status=SendStatus.SCHEDULED,
        now=now,
        subject=subject.strip()[:500],
        body_markdown=body_markdown,
        scheduled_at=at,
        created_by=actor,
        held=held,
    )
    if acknowledge is not None:
        require_acknowledgement(session, send_id, acknowledge)
    audit.record(session, actor, "send.schedule", "send", send_id, at=at.isoformat())
    send = session.get(Send, send_id)
    assert send is not None
    return send


def get_send(session: Session, send_id: int) -> Send:
    send = session.get(Send, send_id)
    if send is None:
        raise SendError(f"there is no send {send_id}")
    return send


def cancel_send(session: Session, send_id: int, actor: str) -> None:
    """Cancel a send that has not started; refused, saying so, once it has."""
    send = get_send(session, send_id)
    cancelled = rows_changed(
        session.execute(
            update(Send)
            .where(Send.id == send_id, Send.status.in_([SendStatus.SCHEDULED, SendStatus.MISSED]))
            .values(status=SendStatus.CANCELLED, finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    )
    if not cancelled:
        session.refresh(send)
        raise SendError(
            f"send {send_id} has already started (it is {send.status.value}); "
            "it can no longer be cancelled"
        )
    audit.record(session, actor, "send.cancel", "send", send_id)


def start_send(
    session: Session, send_id: int, now: datetime, allow_missed: bool = False
) -> int | None:
    """Claim a scheduled send and fan it out; the recipients, or None when another won."""
    allowed = [SendStatus.SCHEDULED, *([SendStatus.MISSED] if allow_missed else [])]
    won = rows_changed(
        session.execute(
            update(Send)
            .where(Send.id == send_id, Send.status.in_(allowed))
            .values(status=SendStatus.SENDING, started_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    if not won:
        return None
    send = get_send(session, send_id)
    audience = Audience.from_json(send.audience or {})
    leave_out = alerts.leave_out_for(session, send)  # an alert held for the send window
    recipients = add_audience(session, send_id, audience, now, leave_out=leave_out)
    ledger.complete_sends(session, now, [send_id])
    return recipients


@dataclass(frozen=True)
class DueSends:
    started: list[int]
    missed: list[int]


def start_due_sends(session: Session, now: datetime, grace: timedelta) -> DueSends:
    """Start every scheduled send whose time has come; mark missed those long overdue."""
    due = session.execute(
        select(Send.id, Send.scheduled_at)
        .where(Send.status == SendStatus.SCHEDULED, Send.scheduled_at <= now)
        .order_by(Send.scheduled_at, Send.id)
    ).all()
    started, missed = [], []
    for send_id, scheduled_at in due:
        assert scheduled_at is not None  # the query asked for scheduled_at <= now
        if scheduled_state(scheduled_at, now, grace) == Due.MISSED:
            if _mark_missed(session, send_id):
                missed.append(send_id)
        elif start_send(session, send_id, now) is not None:
            started.append(send_id)
    return DueSends(started, missed)


def _mark_missed(session: Session, send_id: int) -> bool:
    return bool(
        rows_changed(
            session.execute(
                update(Send)
                .where(Send.id == send_id, Send.status == SendStatus.SCHEDULED)
                .values(status=SendStatus.MISSED)
                .execution_options(synchronize_session=False)
            )
        )
    )


@dataclass(frozen=True)
class Retried:
    """What a retry queued again: failed rows (with fresh attempts), deferred rows (made due
    now), or a missed send started."""

    failed: int = 0
    deferred: int = 0
    started: int = 0

    @property
    def total(self) -> int:
        return self.failed + self.deferred + self.started


def retry_send(session: Session, send_id: int, actor: str, now: datetime | None = None) -> Retried:
    """Re-queue a send's failed and deferred deliveries now (never a sent one), or start a
    missed send now.

    An alert's or digest's failed row gave its articles back to the member's digests: those
    the member has had since are left out of the retry."""
    now = now or utcnow()
    send = get_send(session, send_id)
    if send.status == SendStatus.MISSED:
        retried = Retried(started=start_send(session, send_id, now, allow_missed=True) or 0)
    elif send.status in (SendStatus.SCHEDULED, SendStatus.CANCELLED):
        raise SendError(f"send {send_id} is {send.status.value}; there is nothing to retry")
    else:
        history.leave_out_what_was_had(session, send)
        retried = Retried(
            failed=ledger.requeue_failed(session, send_id, now),
            deferred=ledger.requeue_deferred(session, send_id, now),
        )
    audit.record(session, actor, "send.retry", "send", send_id)
    return retried


def send_test(session: Session, send_id: int, to: str, settings: Settings) -> SendResult:
    """One copy to `to`, marked as a test, outside the ledger: no Delivery row, no counts."""
    from newsletter.delivery.email_cache import render_send
    from newsletter.delivery.one_off import send_one_off
    from newsletter.members import normalise_email
    from newsletter.rendering import Recipient

    send = get_send(session, send_id)
    if send.kind in (SendKind.DIGEST, SendKind.MEMBER_MAIL):
        raise SendError("each member's copy differs; test an announcement or an alert")
    address = normalise_email(to)
    member = session.scalar(select(Member).where(Member.email == address))
    recipient = (
        Recipient(member.id, member.email, member.name, member.token_version)
        if member
        else Recipient(0, address, "", 0)
    )
    message = render_send(session, send, None, settings).personalise(recipient, test=True)
    return send_one_off([message], settings)[0]

"""What a classified message changes: whom it is about, and what happens to them.

- hard bounce: the address is suppressed at once (with the event as evidence) and the member
  marked bounced;
- soft bounce: counted; SOFT_BOUNCE_LIMIT soft bounces on different days within
  SOFT_BOUNCE_DAYS, with no delivery in between that came through, suppress the address;
  a policy or spam block is never held against the member (it is about our reputation): it
  is counted per receiving domain; a delay warning is only recorded;
- complaint: the member is unsubscribed from everything (consent source `complaint`) and the
  address suppressed;
- mailto unsubscribe: the topics of the email it answers, exactly as the one-click POST;
- auto-reply and unknown: recorded, nothing else.

Whom: a VERP token names the send and member (a forged one files the message as unknown);
else an unsubscribe link token in the returned message; else the failed recipient's
address, matched to a member. Every change goes through consent.py and preferences.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from newsletter import consent, links, preferences
from newsletter.config import Settings
from newsletter.consent import Change
from newsletter.inbound.causes import SCORED_CAUSES, Cause
from newsletter.inbound.classify import Classification, Failure
from newsletter.inbound.verp import Addresses, BadToken
from newsletter.members import MemberError, find_member, normalise_email
from newsletter.models import (
    ConsentSource,
    Delivery,
    DeliveryStatus,
    InboundEvent,
    InboundKind,
    Member,
    MemberStatus,
    Send,
    Suppression,
    SuppressionReason,
    utcnow,
)

BOUNCES = (InboundKind.HARD_BOUNCE, InboundKind.SOFT_BOUNCE)
ATTRIBUTED_BY_ADDRESS = (*BOUNCES, InboundKind.COMPLAINT)
SYSTEM = "system"


@dataclass(frozen=True)
class Incoming:
    """Where a message came from and how to recognise it again."""

    key: str  # Message-ID or content hash (or a provider's event id)
    source: str  # smtp, imap, file, ses, mailgun
    evidence: str  # the report as received, shortened


@dataclass(frozen=True)
class Whom:
    member: Member | None = None
    send: Send | None = None
    delivery: Delivery | None = None
    problem: str = ""  # why it could not be attributed (files the message as unknown)
    how: str = ""  # "return path", "unsubscribe link", "address"


def already_processed(session: Session, key: str) -> bool:
    return (
        session.scalar(select(InboundEvent.id).where(InboundEvent.message_key == key)) is not None
    )


def apply(
    session: Session,
    classified: Classification,
    incoming: Incoming,
    addresses: Addresses,
    settings: Settings,
    now: datetime | None = None,
) -> list[InboundEvent]:
    """Record the message (one event per recipient it names) and act on it."""
    now = now or utcnow()
    failures: list[Failure | None] = list(classified.failures) or [None]
    token_whom = _from_tokens(session, classified, addresses)
    if token_whom is not None and len(failures) > 1:
        # A return path names one delivery: the report's worst verdict is that delivery's.
        failures = [min(classified.failures, key=lambda f: f.kind != InboundKind.HARD_BOUNCE)]
    events = []
    for position, failure in enumerate(failures):
        whom = token_whom or (
            _from_address(session, classified, failure)
            if classified.kind in ATTRIBUTED_BY_ADDRESS
            else Whom()
        )
        event = _record(session, classified, failure, whom, incoming, position, now)
        event.action = _act(session, event, whom, settings, now)
        events.append(event)
    session.flush()
    return events


# --- whom it is about ----------------------------------------------------------------------


def _from_tokens(session: Session, classified: Classification, addresses: Addresses) -> Whom | None:
    """The member (and send) a signed token names; None when the message carries none."""
    if classified.verp_token:
        try:
            send_id, member_id = addresses.read_token(classified.verp_token)
        except BadToken as exc:
            return Whom(problem=f"forged or damaged return path: {exc}")
        return _delivery_whom(session, send_id, member_id, "return path")
    if classified.unsubscribe_token:
        try:
            member_id, send_id, version = links.read_unsubscribe_token(classified.unsubscribe_token)
        except links.BadLink:
            if classified.kind == InboundKind.UNSUBSCRIBE:
                return Whom(problem="the unsubscribe token is forged or damaged")
            return None  # a returned message's link proves nothing: go by the address
        whom = _delivery_whom(session, send_id, member_id, "unsubscribe link")
        revoked = whom.member is not None and whom.member.token_version != version
        if classified.kind == InboundKind.UNSUBSCRIBE and revoked:
            return Whom(problem="the unsubscribe link was revoked (links were renewed)")
        return whom
    return None


def _delivery_whom(session: Session, send_id: int, member_id: int, how: str) -> Whom:
    member = session.get(Member, member_id)
    if member is None:
        return Whom(problem=f"the {how} names no member (a test or preview email?)")
    if send_id == 0:
        return Whom(member=member, how=how)  # a member's own email: confirm, welcome...
    delivery = session.scalar(
        select(Delivery).where(Delivery.send_id == send_id, Delivery.member_id == member_id)
    )
    if delivery is None or delivery.status != DeliveryStatus.SENT:
        return Whom(problem=f"the {how} names a delivery that was never sent (send {send_id})")
    return Whom(member, session.get(Send, send_id), delivery, how=how)


def _from_address(session: Session, classified: Classification, failure: Failure | None) -> Whom:
    """No token: the member whose address the report names."""
    candidates = (
        [failure.original_recipient, failure.recipient]
        if failure is not None
        else [classified.complained_about]
    )
    member = None
    for address in filter(None, candidates):
        try:
            member = find_member(session, normalise_email(address))
        except MemberError:
            continue
        if member is not None:
            break
    if member is None:
        named = next(filter(None, candidates), "")
        if not named:
            return Whom(problem="the report names no recipient, and no return path either")
        return Whom(problem=f"no member has the address {named}")
    delivery = None
    if classified.original_message_id:
        delivery = session.scalar(
            select(Delivery).where(
                Delivery.member_id == member.id,
                Delivery.message_id == classified.original_message_id,
            )
        )
    send = session.get(Send, delivery.send_id) if delivery is not None else None
    return Whom(member, send, delivery, how="address")


# --- the record ----------------------------------------------------------------------------


def _record(
    session: Session,
    classified: Classification,
    failure: Failure | None,
    whom: Whom,
    incoming: Incoming,
    position: int,
    now: datetime,
) -> InboundEvent:
    kind, reason = classified.kind, classified.reason
    if failure is not None:
        kind = failure.kind
    if whom.problem and kind not in (InboundKind.AUTO_REPLY, InboundKind.UNKNOWN):
        kind, reason = InboundKind.UNKNOWN, f"{whom.problem} ({reason})"
    elif whom.problem:
        reason = f"{reason}; {whom.problem}"
    email = (failure.recipient if failure else "") or classified.complained_about
    if whom.member is not None and (not email or whom.how != "address"):
        email = whom.member.email
    event = InboundEvent(
        message_key=incoming.key,
        position=position,
        source=incoming.source,
        kind=kind,
        cause=_text(failure.cause.value if failure else classified.feedback_type, 40),
        email=_text(email, 320),
        domain=_text(email.rpartition("@")[2], 255) if "@" in email else "",
        member_id=whom.member.id if whom.member else None,
        send_id=whom.send.id if whom.send else None,
        delivery_id=whom.delivery.id if whom.delivery else None,
        status=_text(failure.status, 20) if failure else "",
        report_action=_text(failure.report_action, 20) if failure else "",
        diagnostic=_text(failure.diagnostic, 4000) if failure else "",
        reason=_text(reason, 2000),
        action="",
        sender=_text(classified.sender, 320),
        subject=_text(classified.subject, 500),
        evidence=_text(incoming.evidence, len(incoming.evidence)),
        created_at=now,
    )
    session.add(event)
    session.flush()
    return event


def _text(value: str, limit: int) -> str:
    """Text a database column takes: no NUL (PostgreSQL refuses it), within the limit."""
    return value.replace("\x00", "\ufffd")[:limit]


# --- what it changes -----------------------------------------------------------------------


def _act(
    session: Session, event: InboundEvent, whom: Whom, settings: Settings, now: datetime
) -> str:
    member = whom.member
    if event.kind == InboundKind.UNKNOWN:
        return "kept for a person to read"
    if event.kind == InboundKind.AUTO_REPLY:
        return "ignored (an automatic reply)"
    if member is None:
        return "nothing: no member to act on"
    if event.kind == InboundKind.HARD_BOUNCE:
        return _suppress(
            session, member, event, SuppressionReason.HARD_BOUNCE, ConsentSource.BOUNCE
        )
    if event.kind == InboundKind.SOFT_BOUNCE:
        return _soft(session, member, event, whom, settings, now)
    if event.kind == InboundKind.COMPLAINT:
        return _complaint(session, member, event)
    if event.kind == InboundKind.UNSUBSCRIBE:
        if whom.send is None:
            return "nothing: the unsubscribe names no email"
        done = preferences.unsubscribe_from_send(
            session, member, whom.send, consent.by_member(ConsentSource.MAILTO)
        )
        topics = ", ".join(done.topics) or "nothing left to remove"
        return f"unsubscribed from {topics}"[:200]
    return "nothing"


def _suppress(
    session: Session,
    member: Member,
    event: InboundEvent,
    reason: SuppressionReason,
    source: ConsentSource,
    why: str = "",
) -> str:
    note = why or " ".join(filter(None, [event.status, event.diagnostic])) or event.reason
    existing = session.scalar(select(Suppression).where(Suppression.email == member.email))
    if existing is None:
        session.add(
            Suppression(email=member.email, reason=reason, note=note[:2000], event_id=event.id)
        )
    change = Change(source, SYSTEM, reason=f"{event.kind.value}: {note}"[:1000])
    if member.status in (MemberStatus.ACTIVE, MemberStatus.PENDING):
        consent.set_status(session, member, MemberStatus.BOUNCED, change)
    session.flush()
    preferences.cancel_stale_deliveries(session, member)
    label = reason.value.replace("_", " ")
    return f"suppressed ({label})" if existing is None else "already suppressed"


def _soft(
    session: Session,
    member: Member,
    event: InboundEvent,
    whom: Whom,
    settings: Settings,
    now: datetime,
) -> str:
    cause = Cause(event.cause) if event.cause in Cause._value2member_map_ else Cause.OTHER
    if cause == Cause.POLICY:
        return f"counted as a policy or spam block at {event.domain or 'the receiving domain'}"
    if cause == Cause.DELAYED:
        return "recorded: a delay warning (the message is still queued)"
    if cause not in SCORED_CAUSES:
        return "recorded"
    score = soft_score(session, member.id, whom, settings, now)
    limit, days = settings.SOFT_BOUNCE_LIMIT, settings.SOFT_BOUNCE_DAYS
    if score >= limit:
        why = (
            f"{score} soft bounces on different days within {days} days (last: {event.diagnostic})"
        )
        return _suppress(
            session, member, event, SuppressionReason.SOFT_BOUNCE, ConsentSource.BOUNCE, why
        )
    return f"soft bounce {score} of {limit} (on different days within {days} days)"


def soft_score(
    session: Session, member_id: int, whom: Whom, settings: Settings, now: datetime
) -> int:
    """Days with a scored soft bounce within SOFT_BOUNCE_DAYS, counting only bounces of mail
    sent after the member's last delivery that did not bounce (a success resets the score).

    Computed here, when a bounce arrives, rather than kept on the member: resetting a stored
    score on every successful delivery would put a write on the sending path."""
    bounced_sent_at = whom.delivery.sent_at if whom.delivery is not None else now
    bounced = exists().where(
        InboundEvent.delivery_id == Delivery.id, InboundEvent.kind.in_(BOUNCES)
    )
    last_success = session.scalar(
        select(func.max(Delivery.sent_at)).where(
            Delivery.member_id == member_id,
            Delivery.status == DeliveryStatus.SENT,
            Delivery.sent_at < bounced_sent_at,
            ~bounced,
        )
    )
    rows = session.execute(
        select(InboundEvent.created_at, InboundEvent.cause, Delivery.sent_at)
        .outerjoin(Delivery, Delivery.id == InboundEvent.delivery_id)
        .where(
            InboundEvent.member_id == member_id,
            InboundEvent.kind == InboundKind.SOFT_BOUNCE,
            InboundEvent.created_at >= now - timedelta(days=settings.SOFT_BOUNCE_DAYS),
        )
    ).all()
    days = {
        received.date()
        for received, cause, sent_at in rows
        if cause in SCORED_CAUSES and (last_success is None or (sent_at or received) > last_success)
    }
    return len(days)


def _complaint(session: Session, member: Member, event: InboundEvent) -> str:
    change = consent.by_member(ConsentSource.COMPLAINT)
    change = replace(change, reason=f"complaint ({event.cause or 'abuse'}) via {event.source}")
    preferences.unsubscribe_all(session, member, change)
    consent.set_status(session, member, MemberStatus.COMPLAINED, change)
    if session.scalar(select(Suppression.id).where(Suppression.email == member.email)) is None:
        session.add(
            Suppression(
                email=member.email,
                reason=SuppressionReason.COMPLAINT,
                note=event.reason[:2000],
                event_id=event.id,
            )
        )
    session.flush()
    return "unsubscribed from everything and suppressed (complaint)"

"""The members' own service: subscribe, confirm, manage, pause and unsubscribe.

Every change takes effect at once: in the same transaction, the member's pending and deferred
deliveries that no longer apply to them are cancelled, so no later batch reaches them.

Emails (confirm, welcome, manage link) are built here and returned; the caller sends them with
`send_messages` after committing, so a slow mail server never holds a database lock.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from newsletter import audit, links, throttle
from newsletter.members import MemberError, find_member, normalise_email, set_subscriptions
from newsletter.models import (
    ArticleTopic,
    Delivery,
    DeliveryStatus,
    Frequency,
    Member,
    MemberStatus,
    Send,
    SendKind,
    Subscription,
    Suppression,
    Topic,
    utcnow,
)

log = logging.getLogger(__name__)

# Emails the public can make us send: per address (whoever asks) and per client address.
MAIL_PER_ADDRESS = throttle.Limit("member-mail:address", 3, timedelta(hours=1))
MAIL_PER_CLIENT = throttle.Limit("member-mail:client", 10, timedelta(hours=1))

OPEN_DELIVERY = (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED)
ACTOR = "member"


class TooManyRequests(Exception):
    """The public asked for too many emails; nothing was sent or changed."""


class ConfirmOutcome(StrEnum):
    CONFIRMED = "confirmed"
    ALREADY = "already"
    GONE = "gone"  # unsubscribed (or bounced) since the email was sent: subscribe again


@dataclass(frozen=True)
class Unsubscribed:
    """What an unsubscribe removed (topic names) and whether anything is left."""

    member: Member
    topics: list[str]
    remaining: int


# --- reading links -------------------------------------------------------------------------


def member_from_manage_token(session: Session, token: str) -> Member:
    member_id, version = links.read_manage_token(token)
    return _current_member(session, member_id, version)


def member_and_send_from_unsubscribe_token(session: Session, token: str) -> tuple[Member, Send]:
    member_id, send_id, version = links.read_unsubscribe_token(token)
    member = _current_member(session, member_id, version)
    send = session.get(Send, send_id)
    if send is None:
        raise links.BadLink("this link is not valid")
    return member, send


def _current_member(session: Session, member_id: int, version: int) -> Member:
    member = session.scalar(
        select(Member).where(Member.id == member_id).options(selectinload(Member.subscriptions))
    )
    if member is None or member.token_version != version:
        raise links.BadLink("this link is not valid")
    return member


# --- subscribing ---------------------------------------------------------------------------


def subscribe(
    session: Session,
    *,
    email: str,
    name: str,
    role: str,
    topics: Mapping[str, Frequency],
    client: str,
) -> list[OutgoingMessage]:
    """Start a double opt-in; the caller shows the same page whatever happens here.

    A new or lapsed address becomes pending with these choices and is sent a confirm email.
    An active member's subscriptions are not touched (anyone can type an address): they are
    sent their manage link instead. Raises MemberError for bad input, TooManyRequests.
    """
    email = normalise_email(email)
    if not topics:
        raise MemberError("choose at least one topic")
    _take_mail_allowance(session, email, client)
    if _suppressed(session, email):
        return []
    member = find_member(session, email)
    if member is not None and member.status == MemberStatus.ACTIVE:
        return [_manage_link_email(session, member)]
    if member is None:
        member = Member(email=email, subscriptions=[])
        session.add(member)
    member.name = name.strip()[:200]
    member.role = role.strip()[:100]
    member.status = MemberStatus.PENDING
    member.paused = False
    set_subscriptions(session, member, topics)
    session.flush()
    audit.record(session, ACTOR, "member.subscribe", "member", member.id, topics=_text(topics))
    return [_confirm_email(session, member)]


def confirm(session: Session, token: str) -> tuple[Member, ConfirmOutcome, list[OutgoingMessage]]:
    """Activate a pending member from their confirm link and welcome them; raises BadLink."""
    member_id, version = links.read_confirm_token(token)
    member = _current_member(session, member_id, version)
    if member.status == MemberStatus.ACTIVE:
        return member, ConfirmOutcome.ALREADY, []
    if member.status != MemberStatus.PENDING:
        return member, ConfirmOutcome.GONE, []
    member.status = MemberStatus.ACTIVE
    member.confirmed_at = utcnow()
    session.flush()
    audit.record(session, ACTOR, "member.confirm", "member", member.id, email=member.email)
    return member, ConfirmOutcome.CONFIRMED, [_welcome_email(session, member)]


def request_manage_link(session: Session, email: str, client: str) -> list[OutgoingMessage]:
    """Email a fresh manage link if the address is a member; the page says the same either way."""
    email = normalise_email(email)
    _take_mail_allowance(session, email, client)
    member = find_member(session, email)
    if member is None or _suppressed(session, email):
        return []
    if member.status == MemberStatus.PENDING:
        return [_confirm_email(session, member)]
    return [_manage_link_email(session, member)]


def _take_mail_allowance(session: Session, email: str, client: str) -> None:
    # Counted for unknown addresses too, so the limit itself reveals nothing.
    if throttle.exceeded(session, MAIL_PER_CLIENT, client) or throttle.exceeded(
        session, MAIL_PER_ADDRESS, email
    ):
        raise TooManyRequests()
    throttle.hit(session, MAIL_PER_CLIENT, client)
    throttle.hit(session, MAIL_PER_ADDRESS, email)


def _suppressed(session: Session, email: str) -> bool:
    return session.scalar(select(Suppression.id).where(Suppression.email == email)) is not None


# --- managing ------------------------------------------------------------------------------


def update_topics(session: Session, member: Member, topics: Mapping[str, Frequency]) -> None:
    """Replace the member's topics and frequencies; none at all means unsubscribed.

    Saving from a manage link also re-activates a member who had unsubscribed: the link
    itself proves they own the address.
    """
    set_subscriptions(session, member, topics)
    if not topics:
        member.status = MemberStatus.UNSUBSCRIBED
    elif member.status in (MemberStatus.UNSUBSCRIBED, MemberStatus.PENDING):
        member.status = MemberStatus.ACTIVE
        member.confirmed_at = member.confirmed_at or utcnow()
    session.flush()
    cancelled = cancel_stale_deliveries(session, member)
    audit.record(
        session, ACTOR, "member.preferences", "member", member.id,
        topics=_text(topics), cancelled=cancelled,
    )


def set_paused(session: Session, member: Member, paused: bool) -> None:
    member.paused = paused
    session.flush()
    cancelled = cancel_stale_deliveries(session, member)
    audit.record(
        session, ACTOR, "member.pause" if paused else "member.resume", "member", member.id,
        cancelled=cancelled,
    )


def unsubscribe_all(session: Session, member: Member, actor: str = ACTOR) -> None:
    set_subscriptions(session, member, {})
    member.status = MemberStatus.UNSUBSCRIBED
    session.flush()
    cancelled = cancel_stale_deliveries(session, member)
    audit.record(session, actor, "member.unsubscribe_all", "member", member.id, cancelled=cancelled)


def unsubscribe_from_send(session: Session, member: Member, send: Send) -> Unsubscribed:
    """Remove the topics that one send was for (the RFC 8058 one-click); idempotent."""
    names = _topic_names(session)
    mine = {s.topic_id: s for s in member.subscriptions}
    scope = _send_scope(session, send, member)
    removed = [mine[topic_id] for topic_id in scope if topic_id in mine]
    for subscription in removed:
        member.subscriptions.remove(subscription)
    if not member.subscriptions and member.status != MemberStatus.UNSUBSCRIBED:
        member.status = MemberStatus.UNSUBSCRIBED
    session.flush()
    cancelled = cancel_stale_deliveries(session, member)
    removed_names = sorted(names[s.topic_id] for s in removed)
    if removed or cancelled:
        audit.record(
            session, ACTOR, "member.unsubscribe", "member", member.id,
            send=send.id, topics=removed_names, cancelled=cancelled,
        )
    scope_names = sorted(names[topic_id] for topic_id in scope if topic_id in names)
    return Unsubscribed(member, removed_names or scope_names, len(member.subscriptions))


def revoke_links(session: Session, member: Member, actor: str) -> None:
    """Every manage, unsubscribe and confirm link sent so far stops working."""
    member.token_version += 1
    session.flush()
    audit.record(session, actor, "member.revoke_links", "member", member.id)


# --- which deliveries still apply ----------------------------------------------------------


def cancel_stale_deliveries(session: Session, member: Member) -> int:
    """Cancel the member's pending/deferred deliveries that their choices no longer cover."""
    rows = session.execute(
        select(Delivery.id, Send)
        .join(Send, Send.id == Delivery.send_id)
        .where(Delivery.member_id == member.id, Delivery.status.in_(OPEN_DELIVERY))
    ).all()
    stale = [delivery_id for delivery_id, send in rows if not _still_wanted(session, member, send)]
    if not stale:
        return 0
    # The status condition again: a worker may have claimed a row since it was read.
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(stale), Delivery.status.in_(OPEN_DELIVERY))
        .values(status=DeliveryStatus.CANCELLED, last_error="cancelled: member's choices changed")
        .execution_options(synchronize_session=False)
    )
    return len(stale)


def _still_wanted(session: Session, member: Member, send: Send) -> bool:
    if member.status != MemberStatus.ACTIVE or member.paused or not member.subscriptions:
        return False
    mine = {s.topic_id for s in member.subscriptions}
    return bool(_send_scope(session, send, member) & mine)


def _send_scope(session: Session, send: Send, member: Member) -> set[int]:
    """The topic ids a send was for, from this member's point of view."""
    if send.kind == SendKind.DIGEST:
        frequency = _digest_frequency(send)
        return {s.topic_id for s in member.subscriptions if s.frequency == frequency}
    if send.kind in (SendKind.ALERT, SendKind.REMINDER):
        return set(
            session.scalars(
                select(ArticleTopic.topic_id).where(
                    ArticleTopic.article_id == send.article_id, ArticleTopic.assigned.is_(True)
                )
            )
        )
    slugs = (send.audience or {}).get("topics") or []
    if not slugs:  # an announcement to every member is about all of their topics
        return {s.topic_id for s in member.subscriptions}
    return set(session.scalars(select(Topic.id).where(Topic.slug.in_(slugs))))


def _digest_frequency(send: Send) -> Frequency | None:
    raw = (send.audience or {}).get("frequency") or (send.key or "digest::").split(":")[1]
    try:
        return Frequency(raw)
    except ValueError:
        return None


# --- emails --------------------------------------------------------------------------------


def _recipient(member: Member) -> Recipient:
    return Recipient(member.id, member.email, member.name, member.token_version)


def _topic_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Topic.id, Topic.name)).tuples())


def chosen_topics(session: Session, member: Member) -> dict[str, str]:
    """{topic name: frequency} for the emails that tell a member what they chose."""
    names = _topic_names(session)
    pairs = sorted((names[s.topic_id], s.frequency.value) for s in member.subscriptions)
    return dict(pairs)


def _confirm_email(session: Session, member: Member) -> OutgoingMessage:
    return prepare_confirm(topics=chosen_topics(session, member)).personalise(_recipient(member))


def _welcome_email(session: Session, member: Member) -> OutgoingMessage:
    return prepare_welcome(topics=chosen_topics(session, member)).personalise(_recipient(member))


def _manage_link_email(session: Session, member: Member) -> OutgoingMessage:
    return prepare_manage_link(topics=chosen_topics(session, member)).personalise(
        _recipient(member)
    )


def send_messages(messages: list[OutgoingMessage]) -> None:
    """Hand transactional emails to the configured backend; failures are logged, not raised.

    The member sees the same page either way and can ask again; raising would only turn a
    mail server hiccup into an error page.
    """
    if not messages:
        return
    try:
        connection = get_backend().open()
    except BackendUnavailable as exc:
        log.warning("could not send %d member emails: %s", len(messages), exc)
        return
    try:
        results = connection.send_batch(messages)
    finally:
        connection.close()
    for message, result in zip(messages, results, strict=True):
        if result.outcome != Outcome.SENT:
            log.warning("member email %s not sent: %s", message.message_id, result.detail)


def _text(topics: Mapping[str, Frequency]) -> dict[str, str]:
    return {slug: str(frequency) for slug, frequency in topics.items()}


def subscription_map(session: Session, member: Member) -> dict[str, Frequency]:
    """{slug: frequency} of the member's current subscriptions."""
    slugs = dict(session.execute(select(Topic.id, Topic.slug)).tuples())
    return {slugs[s.topic_id]: s.frequency for s in member.subscriptions}


__all__ = [
    "ConfirmOutcome",
    "MemberError",
    "Subscription",
    "TooManyRequests",
    "Unsubscribed",
]

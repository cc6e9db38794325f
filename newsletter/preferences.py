"""The members' own service: subscribe, confirm, manage, pause and unsubscribe.

Every change takes effect at once: in the same transaction, the member's pending and deferred
deliveries that no longer apply to them are cancelled, so no later batch reaches them.

Emails (confirm, welcome, manage link) are queued in the caller's transaction through
newsletter.member_mail and sent by a worker after the commit: no mail server or broker is waited
for here.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from newsletter import audit, consent, links, member_mail, role_defaults, throttle
from newsletter.audience import Audience, send_scope
from newsletter.consent import Change, by_member
from newsletter.delivery.eligibility import member_in_audience, member_may_receive
from newsletter.member_mail import MemberMail
from newsletter.members import MemberError, find_member, normalise_email, set_subscriptions
from newsletter.models import (
    ConsentSource,
    Delivery,
    DeliveryStatus,
    Frequency,
    Member,
    MemberStatus,
    Send,
    SendKind,
    Suppression,
    Topic,
    utcnow,
)

# Emails the public can make us send: per address (whoever asks) and per client address.
MAIL_PER_ADDRESS = throttle.Limit(
    "member-mail:address", 3, timedelta(hours=1), key=throttle.address_key
)
MAIL_PER_CLIENT = throttle.Limit(
    "member-mail:client", 10, timedelta(hours=1), key=throttle.client_key
)

OPEN_DELIVERY = (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED)
ACTOR = "member"


class TooManyRequests(Exception):
    """The public asked for too many emails; nothing was sent or changed."""


@dataclass(frozen=True)
class Unsubscribed:
    """What an unsubscribe removed (topic names) and whether anything is left."""

    member: Member
    topics: list[str]
    remaining: int


# --- reading links -------------------------------------------------------------------------


def member_from_manage_token(session: Session, token: str) -> Member:
    member_id, version = links.read_manage_token(token)
    return current_member(session, member_id, version)


def member_from_calendar_token(session: Session, token: str) -> Member:
    """The member of a private calendar feed link that has not been revoked; raises BadLink."""
    member_id, version, calendar_version = links.read_calendar_token(token)
    member = current_member(session, member_id, version)
    if member.calendar_version != calendar_version:
        raise links.BadLink("this link is not valid")
    return member


def new_calendar_link(session: Session, member: Member) -> None:
    """Revoke the member's calendar feed link: the next one has a new version."""
    member.calendar_version += 1
    audit.record(session, ACTOR, "member.calendar_link", "member", member.id)


def member_and_send_from_unsubscribe_token(session: Session, token: str) -> tuple[Member, Send]:
    member_id, send_id, version = links.read_unsubscribe_token(token)
    member = current_member(session, member_id, version)
    send = session.get(Send, send_id)
    if send is None:
        raise links.BadLink("this link is not valid")
    return member, send


def current_member(session: Session, member_id: int, version: int) -> Member:
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
    client: str | None,
) -> None:
    """Start a double opt-in; the caller shows the same page whatever happens here.

    A new or lapsed address becomes pending with these choices (none: their role's defaults)
    and is sent a confirm email.
    An active member's subscriptions are not touched (anyone can type an address): they are
    sent their manage link instead. The emails go once the caller commits. Raises MemberError
    for bad input, TooManyRequests.
    `client` None: the allowance was taken when the request was made (public_requests).
    """
    email = normalise_email(email)
    topics = topics or role_defaults.defaults_for(session, role)
    if not topics:
        raise MemberError("choose at least one topic")
    if client is not None:
        take_mail_allowance(session, email, client)
    if is_suppressed(session, email):
        return
    member = find_member(session, email)
    if member is not None and member.status == MemberStatus.ACTIVE:
        member_mail.queue(session, MemberMail.MANAGE_LINK, member)
        return
    change = by_member(ConsentSource.SUBSCRIBE_FORM)
    if member is None:
        member = Member(email=email, subscriptions=[], paused=False)
        session.add(member)
    member.name = name.strip()[:200]
    member.role = role.strip()[:100]
    consent.set_status(session, member, MemberStatus.PENDING, change)
    consent.set_paused(session, member, False, change)
    set_subscriptions(session, member, topics, change)
    session.flush()
    audit.record(session, ACTOR, "member.subscribe", "member", member.id, topics=_text(topics))
    member_mail.queue(session, MemberMail.CONFIRM, member)


def member_to_confirm(session: Session, token: str) -> Member:
    """The pending member a confirm link is for; raises BadLink for a link that was altered,
    has expired (links.CONFIRM_MAX_AGE_SECONDS), was revoked or has been used.

    A link is used once the member is confirmed: it then works again only if it was made after
    that confirmation (the member left, subscribed again and was sent a new one).
    """
    link = links.read_confirm_link(token)
    member = current_member(session, link.member_id, link.token_version)
    confirmed = member.confirmed_at
    if member.status != MemberStatus.PENDING or (
        confirmed is not None and link.issued_at <= confirmed
    ):
        raise links.BadLink("this link is not valid")
    return member


def confirm(session: Session, token: str) -> Member:
    """Activate a pending member from their confirm link (a POST) and queue their welcome;
    raises BadLink as member_to_confirm does, so a second use changes nothing."""
    member = member_to_confirm(session, token)
    change = by_member(ConsentSource.CONFIRM)
    consent.set_status(session, member, MemberStatus.ACTIVE, change)
    consent.lift_opt_outs(session, member, change)
    member.confirmed_at = utcnow()
    session.flush()
    audit.record(session, ACTOR, "member.confirm", "member", member.id, email=member.email)
    member_mail.queue(session, MemberMail.WELCOME, member)
    return member


def request_manage_link(session: Session, email: str, client: str | None) -> None:
    """Queue a fresh manage link if the address is a member (a confirm email if they are still
    pending); the page says the same either way. `client` None: the allowance was taken when
    the request was made (public_requests)."""
    email = normalise_email(email)
    if client is not None:
        take_mail_allowance(session, email, client)
    member = find_member(session, email)
    if member is None or is_suppressed(session, email):
        return
    kind = MemberMail.CONFIRM if member.status == MemberStatus.PENDING else MemberMail.MANAGE_LINK
    member_mail.queue(session, kind, member)


def take_mail_allowance(session: Session, email: str, client: str) -> None:
    # Counted for unknown addresses too, so the limit itself reveals nothing.
    if throttle.exceeded(session, MAIL_PER_CLIENT, client) or throttle.exceeded(
        session, MAIL_PER_ADDRESS, email
    ):
        raise TooManyRequests()
    throttle.hit(session, MAIL_PER_CLIENT, client)
    throttle.hit(session, MAIL_PER_ADDRESS, email)


def is_suppressed(session: Session, email: str) -> bool:
    return session.scalar(select(Suppression.id).where(Suppression.email == email)) is not None


# --- managing ------------------------------------------------------------------------------


def update_topics(
    session: Session,
    member: Member,
    topics: Mapping[str, Frequency],
    change: Change = by_member(ConsentSource.MANAGE_PAGE),
) -> None:
    """Replace the member's topics and frequencies; none at all means unsubscribed.

    Saving from a manage link also re-activates a member who had unsubscribed: the link
    itself proves they own the address.
    """
    set_subscriptions(session, member, topics, change)
    if not topics:
        consent.set_status(session, member, MemberStatus.UNSUBSCRIBED, change)
    elif member.status in (MemberStatus.UNSUBSCRIBED, MemberStatus.PENDING):
        consent.set_status(session, member, MemberStatus.ACTIVE, change)
        member.confirmed_at = member.confirmed_at or utcnow()
    session.flush()
    cancelled = cancel_stale_deliveries(session, member)
    audit.record(
        session,
        ACTOR,
        "member.preferences",
        "member",
        member.id,
        topics=_text(topics),
        cancelled=cancelled,
    )


def set_paused(
    session: Session,
    member: Member,
    paused: bool,
    change: Change = by_member(ConsentSource.MANAGE_PAGE),
) -> None:
    consent.set_paused(session, member, paused, change)
    session.flush()
    cancelled = cancel_stale_deliveries(session, member)
    audit.record(
        session,
        change.actor,
        "member.pause" if paused else "member.resume",
        "member",
        member.id,
        cancelled=cancelled,
    )


def unsubscribe_all(
    session: Session, member: Member, change: Change = by_member(ConsentSource.MANAGE_PAGE)
) -> None:
    set_subscriptions(session, member, {}, change)
    consent.set_status(session, member, MemberStatus.UNSUBSCRIBED, change)
    session.flush()
    cancelled = cancel_stale_deliveries(session, member)
    audit.record(
        session, change.actor, "member.unsubscribe_all", "member", member.id, cancelled=cancelled
    )


def unsubscribe_from_send(
    session: Session,
    member: Member,
    send: Send,
    change: Change = by_member(ConsentSource.ONE_CLICK),
    keep: Set[int] = frozenset(),
) -> Unsubscribed:
    """Remove the topics that one send was for (the RFC 8058 one-click, or a mailto
    unsubscribe answering that email), except the topic ids in `keep`; idempotent."""
    scope = _send_scope(send, member) - keep
    before = {s.topic_id: s.frequency for s in member.subscriptions}
    removed = [s for s in member.subscriptions if s.topic_id in scope]
    for subscription in removed:
        member.subscriptions.remove(subscription)
    after = {s.topic_id: s.frequency for s in member.subscriptions}
    consent.note_subscription_changes(session, member, before, after, change)
    if not member.subscriptions:
        consent.set_status(session, member, MemberStatus.UNSUBSCRIBED, change)
    session.flush()
    cancelled = cancel_stale_deliveries(session, member)
    names = _topic_names(session)
    removed_names = sorted(names[s.topic_id] for s in removed)
    if removed or cancelled:
        audit.record(
            session,
            change.actor,
            "member.unsubscribe",
            "member",
            member.id,
            send=send.id,
            topics=removed_names,
            cancelled=cancelled,
        )
    return Unsubscribed(member, removed_names, len(member.subscriptions))


def send_topic_names(session: Session, send: Send, member: Member) -> list[str]:
    """The names of the topics a send was for, to say so on the unsubscribe page."""
    names = _topic_names(session)
    return sorted(names[t] for t in _send_scope(send, member) if t in names)


def revoke_links(session: Session, member: Member, actor: str) -> None:
    """Every manage, unsubscribe and confirm link sent so far stops working."""
    member.token_version += 1
    session.flush()
    audit.record(session, actor, "member.revoke_links", "member", member.id)


# --- which deliveries still apply ----------------------------------------------------------


def cancel_stale_deliveries(session: Session, member: Member) -> int:
    """Cancel the member's pending/deferred deliveries that their choices no longer cover.

    "Still covered" is the very test the ledger applies when it claims a delivery
    (eligibility.member_may_receive and member_in_audience), run now so the change shows at
    once in the send's counts.
    """
    sends = session.execute(
        select(Send.id, Send.audience).where(
            Send.id.in_(
                select(Delivery.send_id).where(
                    Delivery.member_id == member.id, Delivery.status.in_(OPEN_DELIVERY)
                )
            ),
            # A member's own emails (a manage link, a notice of a new address) still go.
            Send.kind != SendKind.MEMBER_MAIL,
        )
    ).all()
    cancelled = 0
    for send_id, audience in sends:
        still_wanted = (
            select(Member.id)
            .where(
                Member.id == Delivery.member_id,
                member_may_receive(),
                member_in_audience(Audience.from_json(audience or {})),
            )
            .exists()
        )
        result = session.execute(
            update(Delivery)
            .where(
                Delivery.send_id == send_id,
                Delivery.member_id == member.id,
                Delivery.status.in_(OPEN_DELIVERY),
                ~still_wanted,
            )
            .values(status=DeliveryStatus.CANCELLED, last_error="member changed their choices")
            .execution_options(synchronize_session=False)
        )
        cancelled += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return cancelled


def unsubscribe_scope(audience: Audience, subscriptions: list[tuple[int, Frequency]]) -> set[int]:
    """Which of a member's topics (id, frequency) one send was for (audience.send_scope)."""
    return send_scope(audience, subscriptions)


def _send_scope(send: Send, member: Member) -> set[int]:
    subscriptions = [(s.topic_id, s.frequency) for s in member.subscriptions]
    return unsubscribe_scope(Audience.from_json(send.audience or {}), subscriptions)


# --- emails --------------------------------------------------------------------------------


def _topic_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Topic.id, Topic.name)).all())


def chosen_topics(session: Session, member: Member) -> dict[str, str]:
    """{topic name: frequency} for the pages and emails that tell a member what they chose."""
    return member_mail.chosen_topics(member, _topic_names(session))


def _text(topics: Mapping[str, Frequency]) -> dict[str, str]:
    return {slug: str(frequency) for slug, frequency in topics.items()}


def subscription_map(session: Session, member: Member) -> dict[str, Frequency]:
    """{slug: frequency} of the member's current subscriptions."""
    slugs = dict(session.execute(select(Topic.id, Topic.slug)).all())
    return {slugs[s.topic_id]: s.frequency for s in member.subscriptions}

"""Members' own emails (confirm, welcome, manage link, change of address) through the ledger.

The interface, for every caller (web pages, imports, the console, the API):

    member_mail.queue(session, MemberMail.CONFIRM, member)   # in the caller's transaction
    session.commit()                                         # the email exists once this commits

`queue` only writes a Delivery row; nothing is rendered or sent in the caller's transaction, and
nothing at all if it rolls back. After the commit the email is handed to the workers (one task
per send and up to BATCH_SIZE rows): at once, or, in the web app, after the response
(`after_response`, used by newsletter/web/deps.py), so that no page waits for a broker.
A worker (`deliver`) renders each email when it sends it, so its links carry the member's
current token version and it lists their current topics; it sends through the configured
backend within the shared rate limit, and writes the result like any delivery: a temporary
failure is retried with backoff (the recovery sweep), a hard bounce suppresses the address.
A row that never reached a worker (broker down, process killed) is queued again by the sweep
after ledger.MEMBER_MAIL_REQUEUE.

In the ledger, each kind of email has one Send per UTC day, keyed
`member-mail:<kind>:<YYYY-MM-DD>:<n>`, with one Delivery row per email: a member who asks for a
second email of the same kind on the same day gets it through that day's send n+1, since a send
holds one row per member. Such a send stays `sending` until its day is over
(ledger.MEMBER_MAIL_OPEN). See docs/adr/0012-member-mail-through-the-ledger.md.

Every email greets no one by name: the name on a member comes from a public form, and
putting it in mail to any address would let anyone write into our emails.
"""

from __future__ import annotations

import logging
import queue as queues
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, selectinload

from newsletter import after_commit, dispatch, links
from newsletter.audience import Audience
from newsletter.config import Settings, get_settings
from newsletter.db import insert_for, session_scope
from newsletter.delivery import ledger
from newsletter.delivery.backends.base import BackendUnavailable, Outcome, SendResult
from newsletter.delivery.fanout import create_send
from newsletter.models import (
    Delivery,
    DeliveryStatus,
    Member,
    MemberStatus,
    SendKind,
    Suppression,
    SuppressionReason,
    Topic,
    utcnow,
)

log = logging.getLogger(__name__)


class MemberMail(StrEnum):
    """A kind of member email; the value names its templates in newsletter/templates/email."""

    CONFIRM = "confirm"  # double opt-in: the link confirms a pending member
    WELCOME = "welcome"  # once confirmed: what they chose, and their manage link
    MANAGE_LINK = "manage_link"  # asked for on the site: a fresh manage link
    ADDRESS_CONFIRM = "address_confirm"  # to a new address: the link that makes it theirs
    ADDRESS_CHANGED = "address_changed"  # to the old address: the change is done


LABELS = {
    MemberMail.CONFIRM: "confirm a subscription",
    MemberMail.WELCOME: "welcome",
    MemberMail.MANAGE_LINK: "manage link",
    MemberMail.ADDRESS_CONFIRM: "confirm a new address",
    MemberMail.ADDRESS_CHANGED: "address changed",
}
# Still worth sending only while the member is in one of these states.
STILL_WANTED = {
    MemberMail.CONFIRM: {MemberStatus.PENDING},
    MemberMail.WELCOME: {MemberStatus.ACTIVE},
}

_WAITING = "member_mail.waiting"  # session.info: (send id, delivery id) written, not committed
_LATER = "member_mail.later"  # session.info: where committed ones wait for after the response
_SENDS = "member_mail.sends"  # session.info: send ids already found, by key


# --- queueing, in the caller's transaction ------------------------------------------------


def queue(
    session: Session,
    kind: MemberMail,
    member: Member,
    *,
    to: str | None = None,
    details: dict[str, str] | None = None,
) -> None:
    """Record one email to `member` in this transaction; it is sent after the commit.

    `to` is for the change-of-address emails (default: the member's address when it is sent);
    `details` are extra values its template shows.
    """
    if member.id is None:
        session.flush()
    now = utcnow()
    content = {**({"to": to} if to else {}), **(details or {})}
    values: dict[str, Any] = {
        "member_id": member.id,
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "last_error": "",
        "next_attempt_at": now,
    }
    if content:
        values["content"] = content
    number = 1
    while True:
        send_id = _send_of_the_day(session, kind, now, number)
        added = session.scalar(
            insert_for(session, Delivery)
            .values(send_id=send_id, **values)
            .on_conflict_do_nothing(index_elements=["send_id", "member_id"])  # type: ignore[attr-defined]
            .returning(Delivery.id)
        )
        if added is not None:
            break
        number += 1  # this member already has an email in that send: the next one
    _waiting(session).append((send_id, added))


def send_key(kind: MemberMail, day: str, number: int) -> str:
    return f"member-mail:{kind.value}:{day}:{number}"


def _send_of_the_day(session: Session, kind: MemberMail, now: datetime, number: int) -> int:
    key = send_key(kind, now.date().isoformat(), number)
    known: dict[str, int] = session.info.setdefault(_SENDS, {})
    if key not in known:
        subject = f"Member emails: {LABELS[kind]}, {now:%d %b %Y}" + (
            f" ({number})" if number > 1 else ""
        )
        known[key], _ = create_send(
            session,
            kind=SendKind.MEMBER_MAIL,
            key=key,
            audience=Audience(topic_ids=None),
            now=now,
            subject=subject,
        )
    return known[key]


def _waiting(session: Session) -> list[tuple[int, int]]:
    """This transaction's emails; the first one registers their hand-over for its commit
    (newsletter/after_commit.py)."""
    if not session.info.get(_WAITING):
        session.info[_WAITING] = []
        after_commit.call(session, _committed, session)
        after_commit.on_rollback(session, partial(_rolled_back, session))
    waiting: list[tuple[int, int]] = session.info[_WAITING]
    return waiting


def _committed(session: Session) -> None:
    committed, session.info[_WAITING] = session.info[_WAITING], []
    if not committed:
        return
    later = session.info.get(_LATER)
    if later is not None:
        later.extend(committed)
    else:
        queue_committed(committed)


def _rolled_back(session: Session) -> None:
    session.info[_WAITING] = []
    session.info.pop(_SENDS, None)  # a send made in the rolled-back transaction is gone too


def after_response(session: Session) -> list[tuple[int, int]]:
    """Keep this session's emails, once committed, in the list returned, for `release` to hand
    over after the response has gone (the web app); otherwise they go at once."""
    later: list[tuple[int, int]] = session.info.setdefault(_LATER, [])
    return later


# --- handing over to the workers ----------------------------------------------------------


def queue_committed(committed: Iterable[tuple[int, int]]) -> None:
    """Queue these (send id, delivery id) for the workers; never raises: what could not be
    queued waits for the recovery sweep."""
    by_send: dict[int, list[int]] = defaultdict(list)
    for send_id, delivery_id in committed:
        by_send[send_id].append(delivery_id)
    for send_id, ids in by_send.items():
        try:
            dispatch.member_mail(send_id, ids)
        except Exception as exc:  # a broker or database outage: the sweep queues them again
            log.warning("member emails %s of send %s wait for the sweep: %r", ids, send_id, exc)


class _Courier:
    """One thread per web process that hands emails over after the response: a broker that is
    slow or down holds this thread, never a request nor the pool that serves requests."""

    LIMIT = 10_000  # past this, emails wait for the sweep rather than for memory

    def __init__(self) -> None:
        self.queue: queues.Queue[list[tuple[int, int]]] = queues.Queue(self.LIMIT)
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def take(self, committed: list[tuple[int, int]]) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self.run, name="member-mail", daemon=True)
                self.thread.start()
        try:
            self.queue.put_nowait(list(committed))
        except queues.Full:
            log.warning("member emails %s wait for the sweep: the hand-over is full", committed)

    def run(self) -> None:
        while True:
            queue_committed(self.queue.get())


_courier = _Courier()


def release(committed: list[tuple[int, int]]) -> None:
    """Hand over what `after_response` kept (called after the response); returns at once,
    except inside newsletter.inline.inline(), where the emails are sent before it returns."""
    if committed and dispatch.is_inline():
        queue_committed(committed)
    elif committed:
        _courier.take(committed)


# --- sending, in a worker -------------------------------------------------------------------


@dataclass(frozen=True)
class Letter:
    """One claimed row, rendered for the address it goes to."""

    claimed: ledger.Claimed
    to: str
    member_address: str
    message: Any  # rendering.OutgoingMessage


def run_batch(send_id: int, delivery_ids: Sequence[int], settings: Settings | None = None) -> int:
    """Claim, render and send these rows of a member-mail send; returns how many were sent.
    Safe to run twice: a second run claims nothing."""
    settings = settings or get_settings()
    with session_scope() as session:
        claimed = ledger.claim(session, send_id, delivery_ids, utcnow(), condition=true())
    if not claimed:
        return 0
    backoff = ledger.backoff_from(settings)
    with session_scope() as session:
        letters, failures = _compose(session, send_id, claimed)
        ledger.write_results(session, failures, utcnow(), backoff)
    if not letters:
        return 0
    results = _transmit(letters, settings)
    attempts = [
        ledger.Attempt(letter.claimed, result, letter.message.message_id)
        for letter, result in zip(letters, results, strict=True)
    ]
    try:
        with session_scope() as session:
            ledger.write_results(session, attempts, utcnow(), backoff)
            _suppress_bounced(session, letters, results)
    except (OperationalError, InterfaceError):
        from newsletter.delivery.handover import write_when_back

        write_when_back(attempts, backoff, settings)
    return sum(result.outcome == Outcome.SENT for result in results)


def _transmit(letters: list[Letter], settings: Settings) -> list[SendResult]:
    from newsletter.delivery.one_off import send_one_off

    try:
        return send_one_off([letter.message for letter in letters], settings)
    except BackendUnavailable as exc:
        log.warning("backend unavailable, deferring %d member emails: %s", len(letters), exc)
        return [SendResult(Outcome.DEFERRED, None, f"backend unavailable: {exc}")] * len(letters)


def _compose(
    session: Session, send_id: int, claimed: list[ledger.Claimed]
) -> tuple[list[Letter], list[ledger.Attempt]]:
    """The rows' messages; rows no longer worth sending are put aside, and rows that cannot
    be rendered come back as failures."""
    from newsletter.rendering import RecipientError, TemplateError

    kind = _kind_of(session, send_id)
    members = {
        m.id: m
        for m in session.scalars(
            select(Member)
            .where(Member.id.in_([c.member_id for c in claimed]))
            .options(selectinload(Member.subscriptions))
        )
    }
    names = dict(session.execute(select(Topic.id, Topic.name)).all())
    letters: list[Letter] = []
    failures: list[ledger.Attempt] = []
    for row in claimed:
        member = members.get(row.member_id)
        content = row.content or {}
        to = str(content.get("to") or (member.email if member else ""))
        reason = _not_to_send(session, kind, member, to)
        if reason is not None:
            ledger.put_aside(session, row, *reason)
            continue
        assert member is not None
        try:
            message = _render(kind, member, to, content, names)
        except (TemplateError, RecipientError) as exc:
            failures.append(ledger.Attempt(row, SendResult(Outcome.FAILED, None, str(exc))))
            continue
        letters.append(Letter(row, to, member.email, message))
    return letters, failures


def _kind_of(session: Session, send_id: int) -> MemberMail:
    from newsletter.models import Send

    key = session.scalar(select(Send.key).where(Send.id == send_id)) or ""
    return MemberMail(key.split(":")[1])


def _not_to_send(
    session: Session, kind: MemberMail, member: Member | None, to: str
) -> tuple[DeliveryStatus, str] | None:
    if member is None:
        return DeliveryStatus.CANCELLED, "the member no longer exists"
    if session.scalar(select(Suppression.id).where(Suppression.email == to)) is not None:
        return DeliveryStatus.SUPPRESSED, "address is on the suppression list"
    wanted = STILL_WANTED.get(kind)
    if wanted is not None and member.status not in wanted:
        return DeliveryStatus.CANCELLED, f"the member is {member.status.value} now"
    return None


def chosen_topics(member: Member, names: dict[int, str]) -> dict[str, str]:
    """{topic name: frequency} for the emails that tell a member what they chose."""
    pairs = sorted((names[s.topic_id], s.frequency.value) for s in member.subscriptions)
    return dict(pairs)


def _render(
    kind: MemberMail, member: Member, to: str, content: dict[str, Any], names: dict[int, str]
) -> Any:
    from newsletter.rendering import Recipient
    from newsletter.rendering.build import prepare
    from newsletter.rendering.emails import address_changed_spec, address_confirm_spec
    from newsletter.rendering.headers import parse_sender

    # No name: it was typed into a public form by whoever asked (see the module docstring).
    recipient = Recipient(member.id, to, "", member.token_version)
    if kind == MemberMail.ADDRESS_CONFIRM:
        url = links.address_url(member.id, member.token_version, to)
        return prepare(address_confirm_spec(address_url=url)).personalise(recipient)
    if kind == MemberMail.ADDRESS_CHANGED:
        sender = parse_sender(get_settings().FROM_ADDRESS).address
        spec = address_changed_spec(new_email=str(content.get("new", "")), sender_address=sender)
        return prepare(spec).personalise(recipient)
    return _prepared_for_topics(kind, chosen_topics(member, names)).personalise(recipient)


_CACHE_SIZE = 256
# (settings that shape an email, kind, topics) -> the rendering: an import of many pending
# members needs one rendering per set of choices, not one per member (docs/performance.md,
# "costs behind the code").
_prepared: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


def _prepared_for_topics(kind: MemberMail, topics: dict[str, str]) -> Any:
    settings = get_settings()
    key = (
        settings.FROM_ADDRESS,
        settings.DKIM_PRIVATE_KEY_PATH,
        settings.DKIM_SELECTOR,
        kind,
        tuple(topics.items()),
    )
    if key in _prepared:
        _prepared.move_to_end(key)
        return _prepared[key]
    from newsletter.rendering.build import prepare
    from newsletter.rendering.emails import confirm_spec, manage_link_spec, welcome_spec

    specs = {
        MemberMail.CONFIRM: confirm_spec,
        MemberMail.WELCOME: welcome_spec,
        MemberMail.MANAGE_LINK: manage_link_spec,
    }
    prepared = prepare(specs[kind](topics=topics))
    _prepared[key] = prepared
    if len(_prepared) > _CACHE_SIZE:
        _prepared.popitem(last=False)
    return prepared


def _suppress_bounced(session: Session, letters: list[Letter], results: list[SendResult]) -> None:
    """A hard bounce suppresses the address it came from; the member is marked bounced only
    when that is still their address (not a new address they were trying)."""
    own: list[tuple[int, str]] = []
    for letter, result in zip(letters, results, strict=True):
        if not result.hard_bounce:
            continue
        if letter.to == letter.member_address:
            own.append((letter.claimed.member_id, result.detail))
            continue
        session.execute(
            insert_for(session, Suppression)
            .values(
                email=letter.to,
                reason=SuppressionReason.HARD_BOUNCE,
                note=result.detail,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["email"])  # type: ignore[attr-defined]
        )
    if own:
        ledger.suppress_bounced(session, own)

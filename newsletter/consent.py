"""The consent record: every change to what a member receives, where it came from, and the
opt-outs that nothing but the member can undo.

Every change to a member's subscriptions, status, pause or address goes through this module
with a `Change` (source, actor, reason), which it stores as ConsentEvent rows. A topic the
member left by their own action (MEMBER_OWN_SOURCES) becomes an OptOut; leaving everything
that way sets Member.opted_out_at. An import, an API upsert or a console bulk edit that would
turn such a topic (or the member) back on is refused topic by topic: the rest of the change is
applied and the refusal comes back as a `KeptUnsubscribed` for the caller to report. Only the
member (MEMBER_OPT_IN_SOURCES), or an admin in the console with a written reason
(`Change.override_opt_out`), opts back in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from newsletter.models import (
    ConsentEvent,
    ConsentField,
    ConsentSource,
    Frequency,
    Member,
    MemberStatus,
    OptOut,
    Topic,
    utcnow,
)

# A topic left through one of these is an opt-out that sticks.
MEMBER_OWN_SOURCES = frozenset(
    {
        ConsentSource.MANAGE_PAGE,
        ConsentSource.ONE_CLICK,
        ConsentSource.MAILTO,
        ConsentSource.COMPLAINT,
    }
)
# Only these (the member's own links) lift an opt-out.
MEMBER_OPT_IN_SOURCES = frozenset({ConsentSource.CONFIRM, ConsentSource.MANAGE_PAGE})
# The subscribe form may set an opted-out member's topics, because anyone can type an address:
# the member is pending and receives nothing until the confirm link (their own) lifts them.
MAY_SET_OPTED_OUT_SOURCES = MEMBER_OPT_IN_SOURCES | {ConsentSource.SUBSCRIBE_FORM}
MEMBER_ACTOR = "member"
SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class Change:
    """Who makes a change and through what door; `reason` is written into the record.

    `override_opt_out` is for the console's one-member re-subscribe by an admin, and needs a
    reason. `at` is when the member asked, when that was earlier than now (a request kept
    while the database was unavailable, see newsletter.member_requests).
    """

    source: ConsentSource
    actor: str
    reason: str = ""
    override_opt_out: bool = False
    at: datetime | None = None

    def __post_init__(self) -> None:
        if self.override_opt_out and not self.reason.strip():
            raise ValueError("re-subscribing an opted-out member needs a written reason")

    @property
    def lifts_opt_outs(self) -> bool:
        return self.source in MEMBER_OPT_IN_SOURCES or self.override_opt_out

    @property
    def may_set_opted_out(self) -> bool:
        return self.source in MAY_SET_OPTED_OUT_SOURCES or self.override_opt_out

    @property
    def makes_opt_outs(self) -> bool:
        return self.source in MEMBER_OWN_SOURCES


def by_member(source: ConsentSource) -> Change:
    return Change(source, MEMBER_ACTOR)


@dataclass(frozen=True)
class KeptUnsubscribed:
    """A request to turn back on what the member had left; reported, not applied."""

    topic: str | None  # a topic slug; None for the whole list
    since: datetime
    source: ConsentSource

    def message(self) -> str:
        what = f"{self.topic}: kept unsubscribed" if self.topic else "kept unsubscribed"
        return f"{what}: the member opted out on {self.since:%Y-%m-%d} via {self.source.value}"


# --- the record ----------------------------------------------------------------------------


def record(
    session: Session,
    member: Member,
    field: ConsentField,
    change: Change,
    *,
    old: str = "",
    new: str = "",
    topic_id: int | None = None,
    at: datetime | None = None,
) -> None:
    """Store one event; a change that changes nothing is not recorded."""
    if old == new:
        return
    session.add(
        ConsentEvent(
            member=member,
            field=field,
            topic_id=topic_id,
            old_value=old,
            new_value=new,
            source=change.source,
            actor=change.actor,
            reason=change.reason,
            created_at=at or change.at or utcnow(),
        )
    )


def history(session: Session, member_id: int) -> list[ConsentEvent]:
    """The member's consent record, oldest first."""
    return list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.member_id == member_id)
            .order_by(ConsentEvent.created_at, ConsentEvent.id)
        )
    )


@dataclass(frozen=True)
class HistoryEntry:
    """One consent event as people read it: the topic by its slug, "" shown as "off"."""

    at: datetime
    field: ConsentField
    topic: str | None
    old: str
    new: str
    source: ConsentSource
    actor: str
    reason: str

    @property
    def what(self) -> str:
        return f"{self.field.value} {self.topic}" if self.topic else self.field.value

    def change_text(self) -> str:
        return f"{self.old or 'off'} → {self.new or 'off'}"

    def as_json(self) -> dict[str, str | None]:
        return {
            "at": self.at.isoformat(),
            "field": self.field.value,
            "topic": self.topic,
            "old": self.old,
            "new": self.new,
            "source": self.source.value,
            "actor": self.actor,
            "reason": self.reason,
        }


def history_entries(session: Session, member_id: int) -> list[HistoryEntry]:
    """The member's consent record, oldest first, with topic slugs."""
    rows = session.execute(
        select(ConsentEvent, Topic.slug)
        .outerjoin(Topic, Topic.id == ConsentEvent.topic_id)
        .where(ConsentEvent.member_id == member_id)
        .order_by(ConsentEvent.created_at, ConsentEvent.id)
    )
    return [
        HistoryEntry(
            e.created_at, e.field, slug, e.old_value, e.new_value, e.source, e.actor, e.reason
        )
        for e, slug in rows
    ]


# --- opt-outs ------------------------------------------------------------------------------


def opt_outs_of(session: Session, member: Member) -> list[KeptUnsubscribed]:
    """The member's standing opt-outs (the whole list first, then topics by slug), each as
    what turning it back on would report."""
    found = []
    if member.opted_out_at is not None and member.opted_out_source is not None:
        found.append(KeptUnsubscribed(None, member.opted_out_at, member.opted_out_source))
    rows = session.execute(
        select(Topic.slug, OptOut.created_at, OptOut.source)
        .join(Topic, Topic.id == OptOut.topic_id)
        .where(OptOut.member_id == member.id)
        .order_by(Topic.slug)
    )
    found.extend(KeptUnsubscribed(slug, at, source) for slug, at, source in rows)
    return found


def opt_outs(session: Session, member_id: int | None) -> dict[int, OptOut]:
    """{topic id: opt-out} for one member (none for a member not yet stored)."""
    if member_id is None:
        return {}
    rows = session.scalars(select(OptOut).where(OptOut.member_id == member_id))
    return {row.topic_id: row for row in rows}


def allowed_subscriptions(
    session: Session,
    member: Member,
    wanted: Mapping[int, Frequency],
    change: Change,
    slugs: Mapping[int, str],
) -> tuple[dict[int, Frequency], list[KeptUnsubscribed]]:
    """Split what a change asks for into what may be applied and what the member opted out of.

    Topics the member already has are always allowed (changing a frequency is not opting in).
    """
    if change.may_set_opted_out:
        return dict(wanted), []
    current = {s.topic_id for s in member.subscriptions}
    if member.opted_out_at is not None and member.opted_out_source is not None:
        kept_all = [KeptUnsubscribed(None, member.opted_out_at, member.opted_out_source)]
        asks_more = any(t not in current for t in wanted)
        return {t: f for t, f in wanted.items() if t in current}, kept_all if asks_more else []
    stuck = opt_outs(session, member.id)
    allowed: dict[int, Frequency] = {}
    kept: list[KeptUnsubscribed] = []
    for topic_id, frequency in wanted.items():
        out = stuck.get(topic_id)
        if out is not None and topic_id not in current:
            kept.append(
                KeptUnsubscribed(slugs.get(topic_id, str(topic_id)), out.created_at, out.source)
            )
        else:
            allowed[topic_id] = frequency
    return allowed, kept


def note_subscription_changes(
    session: Session,
    member: Member,
    before: Mapping[int, Frequency],
    after: Mapping[int, Frequency],
    change: Change,
) -> None:
    """Record each topic whose frequency changed, and keep the opt-outs in step with them.

    The member's own row is written too: a worker handing over their messages holds that row
    (delivery/ledger.lock_and_recheck), so the change waits for the messages already begun and
    stops the rest."""
    now = change.at or utcnow()
    if dict(before) != dict(after):
        member.updated_at = now
    for topic_id in sorted(set(before) | set(after)):
        old, new = before.get(topic_id), after.get(topic_id)
        if old == new:
            continue
        record(
            session,
            member,
            ConsentField.SUBSCRIPTION,
            change,
            old=old.value if old else "",
            new=new.value if new else "",
            topic_id=topic_id,
            at=now,
        )
    left = [t for t in before if t not in after]
    joined = [t for t in after if t not in before]
    if change.makes_opt_outs and left:
        stuck = opt_outs(session, member.id)
        for topic_id in left:
            if topic_id not in stuck:
                session.add(
                    OptOut(
                        member_id=member.id, topic_id=topic_id, source=change.source, created_at=now
                    )
                )
    if change.lifts_opt_outs and joined:
        session.execute(
            delete(OptOut).where(OptOut.member_id == member.id, OptOut.topic_id.in_(joined))
        )


def set_status(session: Session, member: Member, status: MemberStatus, change: Change) -> None:
    """Change the member's status, recording it; leaving by their own action sticks.

    Becoming active stores where the consent comes from (the change's reason, else its
    source) and when. A complaint is always a whole-list opt-out via `complaint`, whoever
    records it: an export writes `complained` as `unsubscribed` with that opt-out.
    """
    old = member.status
    member.status = status
    now = change.at or utcnow()
    record(
        session,
        member,
        ConsentField.STATUS,
        change,
        old=old.value if old else "",
        new=status.value,
        at=now,
    )
    if status == MemberStatus.COMPLAINED:
        if member.opted_out_source != ConsentSource.COMPLAINT:
            member.opted_out_at = now
            member.opted_out_source = ConsentSource.COMPLAINT
    elif status == MemberStatus.UNSUBSCRIBED and change.makes_opt_outs:
        if member.opted_out_at is None:
            member.opted_out_at = now
            member.opted_out_source = change.source
    elif status in (MemberStatus.ACTIVE, MemberStatus.PENDING) and change.lifts_opt_outs:
        member.opted_out_at = None
        member.opted_out_source = None
    if status == MemberStatus.ACTIVE and old != MemberStatus.ACTIVE:
        member.consent_basis = (change.reason.strip() or change.source.value)[:300]
        member.consent_at = now


def may_reactivate(member: Member, change: Change) -> KeptUnsubscribed | None:
    """None when `change` may make the member active again, else why not."""
    if member.opted_out_at is None or member.opted_out_source is None or change.lifts_opt_outs:
        return None
    return KeptUnsubscribed(None, member.opted_out_at, member.opted_out_source)


def lift_opt_outs(session: Session, member: Member, change: Change) -> None:
    """The member opted back in to what they now have (their confirm link): clear the
    opt-outs of those topics and of the whole list."""
    if not change.lifts_opt_outs:
        raise ValueError(f"{change.source.value} cannot lift a member's opt-out")
    topic_ids = [s.topic_id for s in member.subscriptions]
    if topic_ids:
        session.execute(
            delete(OptOut).where(OptOut.member_id == member.id, OptOut.topic_id.in_(topic_ids))
        )
    member.opted_out_at = None
    member.opted_out_source = None


def set_paused(
    session: Session,
    member: Member,
    paused: bool,
    change: Change,
    until: datetime | None = None,
) -> None:
    """Pause (until a time, or until the member resumes) or resume; recorded as "paused" or
    "paused until TIME"."""
    old = _pause_text(member.paused, member.paused_until)
    member.paused = paused
    member.paused_until = until if paused else None
    record(session, member, ConsentField.PAUSE, change, old=old, new=_pause_text(paused, until))


def _pause_text(paused: bool, until: datetime | None) -> str:
    if not paused:
        return ""
    return f"paused until {until.astimezone(UTC).isoformat()}" if until else "paused"


def end_pauses(session: Session, now: datetime | None = None) -> int:
    """Resume the members whose pause has reached its end; the resume is recorded with the
    source of the change that set the pause (which chose its end)."""
    now = now or utcnow()
    ended = list(
        session.scalars(
            select(Member).where(
                Member.paused.is_(True),
                Member.paused_until.is_not(None),
                Member.paused_until <= now,
            )
        )
    )
    for member in ended:
        source = session.scalar(
            select(ConsentEvent.source)
            .where(ConsentEvent.member_id == member.id, ConsentEvent.field == ConsentField.PAUSE)
            .order_by(ConsentEvent.created_at.desc(), ConsentEvent.id.desc())
            .limit(1)
        )
        change = Change(source or ConsentSource.IMPORT, SYSTEM_ACTOR, reason="the pause ended")
        set_paused(session, member, False, change)
    return len(ended)

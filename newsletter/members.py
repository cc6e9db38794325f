"""Members and their subscriptions: adding, updating and describing them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session, selectinload

from newsletter import audit, consent, role_defaults
from newsletter.consent import Change, KeptUnsubscribed
from newsletter.models import ConsentSource, Frequency, Member, MemberStatus, Subscription, Topic
from newsletter.paging import Page, fetch_page

FREQUENCIES = tuple(f.value for f in Frequency)


class MemberError(ValueError):
    pass


def normalise_email(raw: str) -> str:
    """A valid address, lower-cased so that one person is one member whatever they type."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise MemberError(f"invalid email address {raw!r}: {exc}") from None
    return result.normalized.lower()


def parse_frequency(raw: str, typed: str = "") -> Frequency:
    """A frequency; `typed`, the whole choice as the user wrote it, is quoted in the error."""
    try:
        return Frequency(raw.strip().lower())
    except ValueError:
        where = f" in {typed!r}" if typed else ""
        raise MemberError(
            f"unknown frequency {raw.strip()!r}{where} (expected one of {', '.join(FREQUENCIES)})"
        ) from None


# A topic choice is SLUG:FREQUENCY (the form printed everywhere) or SLUG=FREQUENCY (also read),
# on the command line, in a CSV cell (choices separated by ";" or ","), anywhere.
TOPIC_SEPARATORS = (":", "=")
CHOICE_SEPARATORS = re.compile(r"[;,]")


def format_topic_choices(choices: Mapping[str, str | Frequency]) -> str:
    """{"funding": "daily", "npq": "weekly"} as "funding:daily;npq:weekly", the canonical form."""
    return ";".join(f"{slug}:{Frequency(frequency).value}" for slug, frequency in choices.items())


def parse_topic_cell(cell: str, known: set[str]) -> dict[str, Frequency]:
    """A CSV cell such as "funding:immediate;npq:weekly" as {slug: frequency}."""
    return parse_topic_choices(CHOICE_SEPARATORS.split(cell), known)


def parse_topic_choices(pairs: list[str], known: set[str]) -> dict[str, Frequency]:
    """Turn ["funding:immediate", "npq=weekly"] into {slug: frequency}; an error quotes the
    choice as it was typed and says what a right one looks like."""
    choices: dict[str, Frequency] = {}
    for typed in pairs:
        typed = typed.strip()
        if not typed:
            continue
        slug, frequency = _split_choice(typed)
        if slug not in known:
            listed = ", ".join(sorted(known))
            raise MemberError(f"unknown topic {slug!r} in {typed!r} (known topics: {listed})")
        if slug in choices:
            raise MemberError(f"topic {slug!r} given twice ({typed!r})")
        choices[slug] = parse_frequency(frequency, typed)
    return choices


def _split_choice(typed: str) -> tuple[str, str]:
    positions = [typed.find(sep) for sep in TOPIC_SEPARATORS if sep in typed]
    if not positions:
        slug = typed.lower()
        raise MemberError(
            f"topic {typed!r} needs a frequency, like {slug}:weekly "
            f"(one of {', '.join(FREQUENCIES)})"
        )
    at = min(positions)
    slug, frequency = typed[:at].strip().lower(), typed[at + 1 :].strip()
    if not slug:
        raise MemberError(f"{typed!r} has no topic before its frequency, like funding:weekly")
    if any(sep in frequency for sep in TOPIC_SEPARATORS):
        raise MemberError(f"{typed!r} gives more than one frequency; write it like {slug}:weekly")
    return slug, frequency


def find_member(session: Session, email: str) -> Member | None:
    return session.scalar(
        select(Member).where(Member.email == email).options(selectinload(Member.subscriptions))
    )


@dataclass
class Upserted:
    """What upsert_member did: the member, whether it was new, and the opt-outs it kept."""

    member: Member
    created: bool
    kept: list[KeptUnsubscribed] = field(default_factory=list)


def upsert_member(
    session: Session,
    email: str,
    name: str | None = None,
    role: str | None = None,
    topics: Mapping[str, Frequency] | None = None,
    status: MemberStatus = MemberStatus.ACTIVE,
    change: Change | None = None,
) -> Upserted:
    """Create or update a member; topics, when given, replace their subscriptions, except
    the ones the member opted out of (returned in `kept`, see newsletter.consent). A new
    member without topics is given their role's defaults (newsletter.role_defaults)."""
    change = change or Change(ConsentSource.CONSOLE, audit.cli_actor())
    email = normalise_email(email)
    member = find_member(session, email)
    created = member is None
    if member is None:
        member = Member(email=email, name="", role="", subscriptions=[])
        session.add(member)
        consent.set_status(session, member, status, change)
    if name is not None:
        member.name = name.strip()
    if role is not None:
        member.role = role.strip()
    if created and not topics:
        topics = role_defaults.defaults_for(session, member.role) or topics
    kept: list[KeptUnsubscribed] = []
    if topics is not None:
        kept = set_subscriptions(session, member, topics, change)
    session.flush()
    audit.record(
        session,
        change.actor,
        "member.add" if created else "member.update",
        "member",
        member.id,
        email=email,
        topics={slug: str(freq) for slug, freq in (topics or {}).items()},
        kept_unsubscribed=[k.message() for k in kept],
    )
    return Upserted(member, created, kept)


def edit_member(
    session: Session,
    member: Member,
    name: str,
    role: str,
    topics: Mapping[str, Frequency],
    status: MemberStatus,
    change: Change,
) -> Upserted:
    """A staff member's edit of one member (the console's member page).

    What the member opted out of themselves stays off and comes back in `kept`, unless the
    change is an admin's override with a written reason: then it is turned back on, and the
    reason goes into the consent record and the audit log.
    """
    before = consent.opt_outs_of(session, member)
    done = upsert_member(session, member.email, name, role, topics, change=change)
    if status != member.status:
        refused = consent.may_reactivate(member, change) if status == MemberStatus.ACTIVE else None
        if refused is not None:
            done.kept.append(refused)
        else:
            audit.record(
                session,
                change.actor,
                "member.status",
                "member",
                member.id,
                before=member.status.value,
                after=status.value,
            )
            consent.set_status(session, member, status, change)
    session.flush()
    after = {(o.topic, o.source) for o in consent.opt_outs_of(session, member)}
    lifted = [o.message() for o in before if (o.topic, o.source) not in after]
    if change.override_opt_out and lifted:
        audit.record(
            session,
            change.actor,
            "member.override_opt_out",
            "member",
            member.id,
            reason=change.reason,
            lifted=lifted,
        )
    return done


def set_subscriptions(
    session: Session,
    member: Member,
    topics: Mapping[str, Frequency],
    change: Change,
    topic_ids: Mapping[str, int] | None = None,
) -> list[KeptUnsubscribed]:
    """Make the member's subscriptions `topics`, recording each change in the consent record.

    Topics the member opted out of are left off unless `change` may lift the opt-out; they come
    back as KeptUnsubscribed for the caller to report. `topic_ids` ({slug: id}, every topic)
    saves looking them up when many members are set at once.
    """
    if topic_ids is None:
        query = select(Topic.slug, Topic.id).where(Topic.slug.in_(topics))
        topic_ids = dict(session.execute(query).all())
    missing = set(topics) - set(topic_ids)
    if missing:
        raise MemberError(f"unknown topic {sorted(missing)[0]!r}")
    slugs = {topic_ids[slug]: slug for slug in topics}
    asked = {topic_ids[slug]: frequency for slug, frequency in topics.items()}
    wanted, kept = consent.allowed_subscriptions(session, member, asked, change, slugs)
    before = {s.topic_id: s.frequency for s in member.subscriptions}
    to_add = dict(wanted)
    for subscription in list(member.subscriptions):
        if subscription.topic_id not in to_add:
            member.subscriptions.remove(subscription)
        else:
            subscription.frequency = to_add.pop(subscription.topic_id)
    for topic_id, frequency in to_add.items():
        member.subscriptions.append(Subscription(topic_id=topic_id, frequency=frequency))
    consent.note_subscription_changes(session, member, before, wanted, change)
    return kept


def subscriptions_of(member: Member, slugs: Mapping[int, str]) -> dict[str, str]:
    return {
        slugs[s.topic_id]: s.frequency.value
        for s in sorted(member.subscriptions, key=lambda s: slugs[s.topic_id])
    }


def list_members(session: Session) -> list[dict[str, Any]]:
    slugs: dict[int, str] = {
        tid: slug for tid, slug in session.execute(select(Topic.id, Topic.slug))
    }
    members = session.scalars(
        select(Member).options(selectinload(Member.subscriptions)).order_by(Member.email)
    )
    return [
        {
            "email": m.email,
            "name": m.name,
            "role": m.role,
            "status": m.status.value,
            "subscriptions": subscriptions_of(m, slugs),
        }
        for m in members
    ]


def describe_member(session: Session, member: Member) -> dict[str, Any]:
    """Everything about one member's consent, for `members show` and the API: their choices,
    standing opt-outs, where their consent comes from, and the record of every change."""
    slugs = dict(session.execute(select(Topic.id, Topic.slug)).all())
    opt_outs = consent.opt_outs_of(session, member)
    return {
        "email": member.email,
        "name": member.name,
        "role": member.role,
        "status": member.status.value,
        "paused": member.paused,
        "paused_until": iso_time(member.paused_until),
        "subscriptions": subscriptions_of(member, slugs),
        "consent": {"basis": member.consent_basis, "at": iso_time(member.consent_at)},
        "opted_out": [
            {"topic": o.topic, "source": o.source.value, "at": o.since.isoformat()}
            for o in opt_outs
        ],
        "history": [e.as_json() for e in consent.history_entries(session, member.id)],
    }


def iso_time(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def roles_in_use(session: Session) -> list[str]:
    """The roles members have (roles are free text), sorted."""
    return list(
        session.scalars(
            select(Member.role).where(Member.role != "").group_by(Member.role).order_by(Member.role)
        )
    )


def search_members(
    session: Session, text: str, status: MemberStatus | None, page: int, page_size: int
) -> Page[Member]:
    """Members whose address or name contains `text` (any case), of `status` if given, by
    address, with their subscriptions."""
    query = select(Member)
    if text:
        query = query.where(search_condition(text))
    if status is not None:
        query = query.where(Member.status == status)
    query = query.options(selectinload(Member.subscriptions)).order_by(Member.email)
    return fetch_page(session, query, page, page_size)


def search_condition(text: str) -> ColumnElement[bool]:
    """Address or name contains `text`, any case: on PostgreSQL each side reads a trigram index
    (migration 0025)."""
    return or_(
        Member.email.contains(text.lower(), autoescape=True),
        func.lower(Member.name).contains(text.lower(), autoescape=True),
    )


def member_with_subscriptions(session: Session, member_id: int) -> Member | None:
    return session.scalar(
        select(Member).where(Member.id == member_id).options(selectinload(Member.subscriptions))
    )

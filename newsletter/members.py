"""Members and their subscriptions: adding, updating and describing them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from newsletter import audit
from newsletter.models import Frequency, Member, MemberStatus, Subscription, Topic

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


def parse_frequency(raw: str) -> Frequency:
    try:
        return Frequency(raw.strip().lower())
    except ValueError:
        raise MemberError(
            f"unknown frequency {raw!r} (expected one of {', '.join(FREQUENCIES)})"
        ) from None


def parse_topic_choices(
    pairs: list[str], known: set[str], separator: str = "="
) -> dict[str, Frequency]:
    """Turn ["funding=immediate", "npq=weekly"] into {slug: frequency}, naming what is wrong."""
    choices: dict[str, Frequency] = {}
    for pair in pairs:
        pair = pair.strip()
        if not pair:
            continue
        slug, sep, frequency = pair.partition(separator)
        slug = slug.strip().lower()
        if not sep:
            raise MemberError(f"topic {pair!r} needs a frequency, like {slug}{separator}weekly")
        if slug not in known:
            raise MemberError(f"unknown topic {slug!r}")
        if slug in choices:
            raise MemberError(f"topic {slug!r} given twice")
        choices[slug] = parse_frequency(frequency)
    return choices


def find_member(session: Session, email: str) -> Member | None:
    return session.scalar(
        select(Member).where(Member.email == email).options(selectinload(Member.subscriptions))
    )


def upsert_member(
    session: Session,
    email: str,
    name: str | None = None,
    role: str | None = None,
    topics: Mapping[str, Frequency] | None = None,
    status: MemberStatus = MemberStatus.ACTIVE,
    actor: str = "",
) -> tuple[Member, bool]:
    """Create or update a member; topics, when given, replace their subscriptions.

    Returns the member and whether it was created.
    """
    email = normalise_email(email)
    member = find_member(session, email)
    created = member is None
    if member is None:
        member = Member(email=email, name="", role="", status=status, subscriptions=[])
        session.add(member)
    if name is not None:
        member.name = name.strip()
    if role is not None:
        member.role = role.strip()
    if topics is not None:
        set_subscriptions(session, member, topics)
    session.flush()
    audit.record(
        session,
        actor or audit.cli_actor(),
        "member.add" if created else "member.update",
        "member",
        member.id,
        email=email,
        topics={slug: str(freq) for slug, freq in (topics or {}).items()},
    )
    return member, created


def set_subscriptions(session: Session, member: Member, topics: Mapping[str, Frequency]) -> None:
    by_slug = {t.slug: t for t in session.scalars(select(Topic).where(Topic.slug.in_(topics)))}
    missing = set(topics) - set(by_slug)
    if missing:
        raise MemberError(f"unknown topic {sorted(missing)[0]!r}")
    wanted = {by_slug[slug].id: frequency for slug, frequency in topics.items()}
    for subscription in list(member.subscriptions):
        if subscription.topic_id not in wanted:
            member.subscriptions.remove(subscription)
        else:
            subscription.frequency = wanted.pop(subscription.topic_id)
    for topic_id, frequency in wanted.items():
        member.subscriptions.append(Subscription(topic_id=topic_id, frequency=frequency))


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

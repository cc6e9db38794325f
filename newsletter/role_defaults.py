"""Roles members hold (SENCO, phase leader...) and the topics each starts with.

Admins choose a role's default topics and frequencies. They fill the subscribe form when a
member picks the role, and are given to a new member who comes by import, the API or the
command line with a role and no topics. They are only ever read when a member is created:
changing a role's defaults changes no existing member.

Roles are matched whatever their case and surrounding spaces ("senco " is SENCO).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from newsletter import audit
from newsletter.models import Frequency, MemberRole, RoleDefault, Topic

MAX_NAME = 100


class RoleError(ValueError):
    """A role name or default that cannot be stored; the message names the problem."""


def list_roles(session: Session) -> list[MemberRole]:
    """Every role with its defaults, by name."""
    return list(
        session.scalars(
            select(MemberRole)
            .options(selectinload(MemberRole.defaults).selectinload(RoleDefault.topic))
            .order_by(func.lower(MemberRole.name))
        )
    )


def find_role(session: Session, name: str) -> MemberRole | None:
    key = name.strip().casefold()
    if not key:
        return None
    return next((role for role in list_roles(session) if role.name.casefold() == key), None)


def defaults_of(role: MemberRole) -> dict[str, Frequency]:
    """{topic slug: frequency} a member of this role starts with."""
    return {d.topic.slug: d.frequency for d in sorted(role.defaults, key=lambda d: d.topic.slug)}


def defaults_for(session: Session, role_name: str) -> dict[str, Frequency]:
    """The defaults of the role a member typed (none for a role nobody set up)."""
    role = find_role(session, role_name)
    return defaults_of(role) if role is not None else {}


def all_defaults(session: Session) -> dict[str, dict[str, Frequency]]:
    """{role name as typed casefolded: its defaults}, for many members at once (an import)."""
    return {role.name.casefold(): defaults_of(role) for role in list_roles(session)}


def add_role(session: Session, name: str, actor: str) -> MemberRole:
    """A new role, without defaults yet; raises RoleError for an empty, long or known name."""
    clean = " ".join(name.split())
    if not clean:
        raise RoleError("Enter the role's name.")
    if len(clean) > MAX_NAME:
        raise RoleError(f"A role's name has at most {MAX_NAME} characters.")
    if find_role(session, clean) is not None:
        raise RoleError(f"There is already a role called {clean!r}.")
    role = MemberRole(name=clean, defaults=[])
    session.add(role)
    session.flush()
    audit.record(session, actor, "role.add", "member_role", role.id, name=clean)
    return role


def set_defaults(
    session: Session, role: MemberRole, defaults: Mapping[str, Frequency], actor: str
) -> None:
    """Replace the role's defaults; members who already exist are not touched."""
    topics = {t.slug: t for t in session.scalars(select(Topic).where(Topic.slug.in_(defaults)))}
    unknown = sorted(set(defaults) - set(topics))
    if unknown:
        raise RoleError(f"There is no topic {unknown[0]!r}.")
    before = {slug: f.value for slug, f in defaults_of(role).items()}
    role.defaults.clear()
    session.flush()
    for slug, frequency in defaults.items():
        role.defaults.append(RoleDefault(topic=topics[slug], frequency=frequency))
    session.flush()
    after = {slug: f.value for slug, f in sorted(defaults.items())}
    audit.record(
        session, actor, "role.defaults", "member_role", role.id, before=before, after=after
    )

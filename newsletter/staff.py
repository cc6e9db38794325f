"""Staff accounts: create them with argon2 password hashes, check passwords, change roles."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter import audit
from newsletter.members import MemberError, normalise_email
from newsletter.models import StaffRole, StaffUser

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified when the email is unknown, so a wrong address costs as long as a wrong password.

    Made on first use, not at import: hashing costs ~0.2 s that every command would pay.
    """
    return _hasher.hash("not a real password, only spends time")


class StaffError(ValueError):
    pass


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise StaffError(f"the password must be at most {MAX_PASSWORD_LENGTH} characters long")


def parse_role(raw: str) -> StaffRole:
    try:
        return StaffRole(raw.strip().lower())
    except ValueError:
        raise StaffError(f"unknown role {raw!r} (expected admin or comms)") from None


def find_staff(session: Session, email: str) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))


def create_staff(
    session: Session, email: str, password: str, role: StaffRole, actor: str = ""
) -> StaffUser:
    try:
        email = normalise_email(email)
    except MemberError as exc:
        raise StaffError(str(exc)) from None
    check_password_rules(password)
    if find_staff(session, email) is not None:
        raise StaffError(f"a staff account for {email} already exists")
    user = StaffUser(email=email, password_hash=_hasher.hash(password), role=role, active=True)
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor or audit.cli_actor(),
        "staff.create",
        "staff",
        user.id,
        email=email,
        role=role.value,
    )
    return user


def authenticate(session: Session, email: str, password: str) -> StaffUser | None:
    """The active account whose password this is, or None; never says which part was wrong."""
    user = find_staff(session, email) if len(password) <= MAX_PASSWORD_LENGTH else None
    if user is None or not user.active:
        _verify(_dummy_hash(), password)
        return None
    if not _verify(user.password_hash, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def list_staff(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.email)))


def get_staff(session: Session, user_id: int) -> StaffUser | None:
    return session.get(StaffUser, user_id)


def active_admins(session: Session) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(StaffUser)
            .where(StaffUser.role == StaffRole.ADMIN, StaffUser.active.is_(True))
        )
        or 0
    )


def update_staff(
    session: Session, user: StaffUser, role: StaffRole, active: bool, actor: str
) -> None:
    """Change a role or (de)activate; the last active admin cannot lock everyone out."""
    losing_admin = (
        user.role == StaffRole.ADMIN and user.active and (role != StaffRole.ADMIN or not active)
    )
    if losing_admin and active_admins(session) <= 1:
        raise StaffError("this is the last active admin; make another admin first")
    before = {"role": user.role.value, "active": user.active}
    user.role = role
    user.active = active
    session.flush()
    audit.record(
        session,
        actor,
        "staff.update",
        "staff",
        user.id,
        email=user.email,
        before=before,
        after={"role": role.value, "active": active},
    )


def set_password(session: Session, user: StaffUser, password: str, actor: str) -> None:
    check_password_rules(password)
    user.password_hash = _hasher.hash(password)
    session.flush()
    audit.record(session, actor, "staff.password", "staff", user.id, email=user.email)

"""Staff accounts: create them with argon2 password hashes, check passwords, change roles.

A password must be at least 12 characters, not only spaces, and not easy to guess: zxcvbn
(Dropbox's estimator, with its lists of common passwords, names and words) must rate it at
least MIN_STRENGTH of 4, knowing the account's address and the service's name.
"""

from __future__ import annotations

import re
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter import audit, staff_sessions
from newsletter.members import MemberError, normalise_email
from newsletter.models import StaffRole, StaffUser

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
MIN_STRENGTH = 3  # zxcvbn's score: 3 is "safely unguessable", about 10^10 guesses
STRENGTH_CHECKED = 72  # zxcvbn's own limit; a longer password is judged by its start
SERVICE_WORDS = ["newsletter", "school", "leaders", "network", "staff", "admin", "comms"]

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified when the email is unknown, so a wrong address costs as long as a wrong password.

    Made on first use, not at import: hashing costs ~0.2 s that every command would pay.
    """
    return _hasher.hash("not a real password, only spends time")


class StaffError(ValueError):
    pass


def check_password_rules(password: str, email: str = "") -> None:
    """Raise StaffError saying what is wrong with this password for this account."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise StaffError(f"the password must be at most {MAX_PASSWORD_LENGTH} characters long")
    if not password.strip():
        raise StaffError("the password cannot be only spaces")
    from zxcvbn import zxcvbn  # its word lists load slowly: only when a password is set

    own_words = [part for part in re.split(r"[@.+_-]", email.lower()) if part]
    verdict = zxcvbn(password[:STRENGTH_CHECKED], user_inputs=[*own_words, *SERVICE_WORDS])
    if verdict["score"] < MIN_STRENGTH:
        hint = verdict["feedback"].get("warning") or "it would be easy to guess"
        raise StaffError(
            f"the password is too easy to guess ({hint.rstrip('.').lower()}); "
            "try a few unrelated words together"
        )


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
    check_password_rules(password, email)
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
    if not active:
        staff_sessions.end_all(session, user.id)
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
    """A new password; every session of the account ends (a thief's copy of a cookie too)."""
    check_password_rules(password, user.email)
    user.password_hash = _hasher.hash(password)
    ended = staff_sessions.end_all(session, user.id)
    session.flush()
    audit.record(
        session, actor, "staff.password", "staff", user.id, email=user.email, sessions_ended=ended
    )


def change_password(
    session: Session, user: StaffUser, current: str, new: str, repeated: str
) -> None:
    """The signed-in user's own change: the current password first, the new one twice."""
    if len(current) > MAX_PASSWORD_LENGTH or not _verify(user.password_hash, current):
        raise StaffError("the current password is not right")
    if new != repeated:
        raise StaffError("the new password and its repetition differ")
    if new == current:
        raise StaffError("the new password must differ from the current one")
    set_password(session, user, new, f"staff:{user.email}")


def end_sessions(session: Session, user: StaffUser, actor: str) -> int:
    """An admin signs an account out everywhere."""
    ended = staff_sessions.end_all(session, user.id)
    audit.record(
        session, actor, "staff.sessions_ended", "staff", user.id, email=user.email, ended=ended
    )
    return ended

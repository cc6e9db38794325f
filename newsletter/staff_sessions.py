"""Staff sessions kept in the database, so that they can be ended.

The browser's cookie holds a random token; the database holds its SHA-256 hash, the account,
and when it expires. A copied cookie is worth nothing once its row is gone: signing out,
changing the password, a password reset, deactivation, or an admin ending the account's
sessions deletes it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from newsletter.models import StaffSession, StaffUser, utcnow

LIFETIME = timedelta(hours=8)  # from sign-in, however busy the session is
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start(session: Session, user: StaffUser, client: str, now: datetime | None = None) -> str:
    """A new session for this account; returns the token for the cookie (never stored)."""
    now = now or utcnow()
    session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            staff_id=user.id,
            token_hash=_hash(token),
            client=client[:100],
            created_at=now,
            last_seen_at=now,
            expires_at=now + LIFETIME,
        )
    )
    session.flush()
    return token


def find(session: Session, token: str, now: datetime | None = None) -> StaffUser | None:
    """The active account this token signs in, or None (unknown, ended or expired)."""
    if not token or len(token) > 100:
        return None
    now = now or utcnow()
    row = session.scalar(select(StaffSession).where(StaffSession.token_hash == _hash(token)))
    if row is None or row.expires_at <= now:
        return None
    user = session.get(StaffUser, row.staff_id)
    if user is None or not user.active:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return user


def end(session: Session, token: str) -> None:
    session.execute(delete(StaffSession).where(StaffSession.token_hash == _hash(token)))


def end_all(session: Session, staff_id: int) -> int:
    """End every session of this account; returns how many there were."""
    result = session.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def active_counts(session: Session, now: datetime | None = None) -> dict[int, int]:
    """{staff id: sessions still open}, for the staff accounts page."""
    rows = session.execute(
        select(StaffSession.staff_id, func.count())
        .where(StaffSession.expires_at > (now or utcnow()))
        .group_by(StaffSession.staff_id)
    )
    return {staff_id: count for staff_id, count in rows}

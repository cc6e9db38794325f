"""Staff password resets: an emailed link that works once, for an hour.

Asking for a link does the same for any address (a rate-limit hit and a queued task), so the
form tells nobody who has an account. The worker that runs the task looks the account up,
records a PasswordReset row and emails its link. The link's token is that row's id signed
with the secret key (and timestamped), so neither the database nor the queue holds anything
that would reset a password, and the row says whether it was used. Using it sets the new
password, marks every open link of the account used, and ends the account's sessions.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from sqlalchemy import update
from sqlalchemy.orm import Session

from newsletter import audit, throttle
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.models import PasswordReset, StaffUser, utcnow
from newsletter.staff import StaffError, find_staff, set_password

if TYPE_CHECKING:
    from newsletter.rendering.prepared import PreparedEmail

log = logging.getLogger(__name__)

LIFETIME = timedelta(hours=1)
SALT = "newsletter.staff.password-reset"
NOT_VALID = "this link is not valid"
EXPIRED = "this link has expired: links to reset a password last an hour"
PER_ADDRESS = throttle.Limit(
    "password-reset:address", 3, timedelta(hours=1), key=throttle.address_key
)
PER_CLIENT = throttle.Limit(
    "password-reset:client", 10, timedelta(hours=1), key=throttle.client_key
)


class ResetLinkError(ValueError):
    """The link was altered, has expired, or was used already."""


class TooManyRequests(Exception):
    pass


def take_allowance(session: Session, email: str, client: str) -> None:
    """Count one request (for any address: the count reveals nothing); TooManyRequests when
    this address or client has asked too often."""
    if throttle.exceeded(session, PER_CLIENT, client) or throttle.exceeded(
        session, PER_ADDRESS, email
    ):
        raise TooManyRequests()
    throttle.hit(session, PER_CLIENT, client)
    throttle.hit(session, PER_ADDRESS, email)


def _signer() -> TimestampSigner:
    return TimestampSigner(get_settings().secret_key, salt=SALT)


def reset_url(reset_id: int) -> str:
    token = _signer().sign(str(reset_id)).decode("ascii")
    return f"{get_settings().BASE_URL}/staff/password-reset/{token}"


def link_email(reset_id: int) -> PreparedEmail:
    """The email with the link for this reset, before it is addressed."""
    from newsletter.rendering.build import EmailSpec, prepare

    context = {"reset_url": reset_url(reset_id), "minutes": int(LIFETIME.total_seconds() // 60)}
    return prepare(EmailSpec("password_reset", context, bulk=False))


def send_link(email: str, now: datetime | None = None) -> bool:
    """Email a reset link if the address is an active account's (run by a worker); True if
    one was sent."""
    from newsletter.delivery.backends.base import BackendUnavailable, Outcome
    from newsletter.delivery.one_off import send_one_off
    from newsletter.rendering import Recipient

    now = now or utcnow()
    with session_scope() as session:
        user = find_staff(session, email)
        if user is None or not user.active:
            return False
        reset = PasswordReset(staff_id=user.id, created_at=now, expires_at=now + LIFETIME)
        session.add(reset)
        session.flush()
        audit.record(session, "system", "staff.password_reset_sent", "staff", user.id)
        reset_id, address = reset.id, user.email
    message = link_email(reset_id).personalise(Recipient(0, address, "", 0))
    try:
        result = send_one_off([message], get_settings())[0]
    except BackendUnavailable as exc:
        log.warning("password reset email for staff %s not sent: %s", address, exc)
        return False
    if result.outcome != Outcome.SENT:
        log.warning("password reset email for staff %s not sent: %s", address, result.detail)
    return result.outcome == Outcome.SENT


def check(session: Session, token: str, now: datetime | None = None) -> PasswordReset:
    """The unused, unexpired reset this link is for; raises ResetLinkError."""
    now = now or utcnow()
    try:
        raw = _signer().unsign(token, max_age=int(LIFETIME.total_seconds()))
        reset_id = int(raw)
    except SignatureExpired:
        raise ResetLinkError(EXPIRED) from None
    except (BadSignature, ValueError):
        raise ResetLinkError(
            "this link is not valid: it may have been copied incompletely"
        ) from None
    reset = session.get(PasswordReset, reset_id)
    user = session.get(StaffUser, reset.staff_id) if reset else None
    if reset is None or user is None or not user.active:
        raise ResetLinkError(NOT_VALID)
    if reset.used_at is not None:
        raise ResetLinkError("this link was used already: each link works once")
    if reset.expires_at <= now:
        raise ResetLinkError(EXPIRED) from None
    return reset


def use(session: Session, token: str, password: str, repeated: str) -> StaffUser:
    """Set the new password through this link; raises ResetLinkError or StaffError."""
    reset = check(session, token)
    user = session.get(StaffUser, reset.staff_id)
    assert user is not None
    if password != repeated:
        raise StaffError("the new password and its repetition differ")
    set_password(session, user, password, f"staff:{user.email} (reset link)")
    now = utcnow()
    # Claimed with a condition, so two tabs posting the same link cannot both use it.
    claimed = session.execute(
        update(PasswordReset)
        .where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        raise ResetLinkError("this link was used already: each link works once")
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.staff_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
    return user

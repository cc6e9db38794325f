"""Staff sign-in: cookie sessions, CSRF tokens, roles and the login rate limit.

The session cookie (Starlette's signed cookie, path /staff) holds the staff id, a fingerprint
of their password hash (changing the password ends every other session) and a CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from newsletter import throttle
from newsletter.models import StaffRole, StaffUser
from newsletter.web.deps import db_session
from newsletter.web.middleware import MAX_BODY_BYTES

SESSION_COOKIE = "newsletter_staff"
SESSION_MAX_AGE = 8 * 3600
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

LOGIN_PER_ADDRESS = throttle.Limit("login:address", 5, timedelta(minutes=15))
LOGIN_PER_CLIENT = throttle.Limit("login:client", 20, timedelta(minutes=15))


class LoginRequired(Exception):
    """No signed-in staff user; answered with a redirect to the login page."""


async def read_form(request: Request) -> FormData:
    """The request's form (parsed once, then cached by Starlette), allowing large text fields."""
    return await request.form(max_part_size=MAX_BODY_BYTES)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


async def verify_csrf(request: Request) -> None:
    """Every form that changes something carries the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get("csrf")
    form = await read_form(request)
    sent = form.get("csrf_token") or request.headers.get("x-csrf-token") or ""
    # Bytes, because compare_digest raises on non-ASCII str (a 500 for a hostile token).
    if (
        not expected
        or not isinstance(sent, str)
        or not hmac.compare_digest(sent.encode(), str(expected).encode())
    ):
        raise HTTPException(403, "This form has expired. Go back, reload the page and try again.")


def refuse_other_sites(request: Request) -> None:
    """A form posted from a page of another site is refused (browsers name the page's origin
    on every POST); a request without an Origin (a mail client, a script) is let through."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    ours = {
        urlsplit(request.app.state.settings.BASE_URL).netloc,
        request.headers.get("host", ""),
    }
    if urlsplit(origin).netloc not in ours:
        raise HTTPException(403, "This form can only be sent from our own pages.")


def _fingerprint(user: StaffUser) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:24]


def log_in(request: Request, user: StaffUser) -> None:
    # A fresh session on sign-in, so a token planted before it is worth nothing after.
    request.session.clear()
    request.session["staff_id"] = user.id
    request.session["auth"] = _fingerprint(user)
    request.session["csrf"] = secrets.token_urlsafe(32)


def log_out(request: Request) -> None:
    request.session.clear()


def current_staff(request: Request, session: Session = Depends(db_session)) -> StaffUser:
    staff_id = request.session.get("staff_id")
    user = session.get(StaffUser, staff_id) if isinstance(staff_id, int) else None
    fingerprint = request.session.get("auth")
    if (
        user is None
        or not user.active
        or not isinstance(fingerprint, str)
        or not hmac.compare_digest(fingerprint.encode(), _fingerprint(user).encode())
    ):
        raise LoginRequired()
    request.state.staff = user
    return user


def require_admin(user: StaffUser = Depends(current_staff)) -> StaffUser:
    if user.role != StaffRole.ADMIN:
        raise HTTPException(403, "This page is for admins only.")
    return user


def actor(user: StaffUser) -> str:
    return f"staff:{user.email}"


def login_blocked(session: Session, email: str, client: str) -> bool:
    return throttle.exceeded(session, LOGIN_PER_ADDRESS, email) or throttle.exceeded(
        session, LOGIN_PER_CLIENT, client
    )


def record_failed_login(session: Session, email: str, client: str) -> None:
    throttle.hit(session, LOGIN_PER_ADDRESS, email)
    throttle.hit(session, LOGIN_PER_CLIENT, client)


def clear_failed_logins(session: Session, email: str) -> None:
    throttle.clear(session, LOGIN_PER_ADDRESS, email)


# Router-level guards: whoever is not signed in (or lacks the role) never reaches a route,
# and every change carries the CSRF token. The route-table test relies on these.
STAFF_ONLY = [Depends(current_staff), Depends(verify_csrf)]
ADMIN_ONLY = [Depends(require_admin), Depends(verify_csrf)]


def safe_next(target: str) -> str:
    """Where to go after signing in: only a page of the console, never another site."""
    if target.startswith("/staff") and not target.startswith("//") and "\\" not in target:
        return target
    return "/staff"

"""Staff sign-in: sessions, CSRF tokens and roles.

The session cookie (Starlette's signed cookie, path /staff) holds a CSRF token and, once signed
in, the token of a server-side session (newsletter.staff_sessions): signing out, a password
change or an admin deletes that session, and the cookie, wherever it was copied, is worth
nothing. Failed sign-ins are slowed down by newsletter.login_throttle.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from newsletter import staff_sessions
from newsletter.models import StaffRole, StaffUser
from newsletter.web.deps import client_address, db_session
from newsletter.web.middleware import MAX_BODY_BYTES

SESSION_COOKIE = "newsletter_staff"
SESSION_MAX_AGE = int(staff_sessions.LIFETIME.total_seconds())
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


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


def log_in(request: Request, session: Session, user: StaffUser) -> None:
    # A fresh cookie on sign-in, so a token planted before it is worth nothing after.
    request.session.clear()
    request.session["sid"] = staff_sessions.start(session, user, client_address(request))
    request.session["csrf"] = secrets.token_urlsafe(32)


def log_out(request: Request, session: Session) -> None:
    token = request.session.get("sid")
    if isinstance(token, str):
        staff_sessions.end(session, token)
    request.session.clear()


def current_staff(request: Request, session: Session = Depends(db_session)) -> StaffUser:
    token = request.session.get("sid")
    user = staff_sessions.find(session, token) if isinstance(token, str) else None
    if user is None:
        raise LoginRequired()
    request.state.staff = user
    return user


def require_admin(user: StaffUser = Depends(current_staff)) -> StaffUser:
    if user.role != StaffRole.ADMIN:
        raise HTTPException(403, "This page is for admins only.")
    return user


def actor(user: StaffUser) -> str:
    return f"staff:{user.email}"


def signed_in(request: Request) -> StaffUser:
    """The staff user this request's guard (STAFF_ONLY or ADMIN_ONLY) signed in."""
    return request.state.staff  # type: ignore[no-any-return]


# Router-level guards: whoever is not signed in (or lacks the role) never reaches a route,
# and every change carries the CSRF token. The route-table test relies on these.
STAFF_ONLY = [Depends(current_staff), Depends(verify_csrf)]
ADMIN_ONLY = [Depends(require_admin), Depends(verify_csrf)]


def safe_next(target: str) -> str:
    """Where to go after signing in: only a page of the console, never another site."""
    if target.startswith("/staff") and not target.startswith("//") and "\\" not in target:
        return target
    return "/staff"

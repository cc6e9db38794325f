"""A staff member's own account: change my password; and, for anyone, the password reset by
an emailed single-use link (newsletter.password_reset)."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from newsletter import dispatch, password_reset
from newsletter.models import StaffUser
from newsletter.staff import StaffError, change_password
from newsletter.web import forms
from newsletter.web.auth import STAFF_ONLY, log_in, read_form, verify_csrf
from newsletter.web.deps import client_address, db_session
from newsletter.web.templating import render

router = APIRouter(prefix="/staff/account", include_in_schema=False, dependencies=STAFF_ONLY)
# Reached before signing in: the forms carry the cookie's CSRF token all the same.
public_router = APIRouter(
    prefix="/staff/password-reset",
    include_in_schema=False,
    dependencies=[Depends(verify_csrf)],
)

NOTICES = {"password": "Your password is changed. Every other browser is signed out."}


def _password(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


# --- change my password --------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def account(request: Request, notice: str = "") -> Response:
    return render(request, "staff/account.html", {"errors": {}, "notice": NOTICES.get(notice, "")})


@router.post("/password", response_class=HTMLResponse)
def password_change(
    request: Request,
    form: FormData = Depends(read_form),
    session: Session = Depends(db_session),
) -> Response:
    user: StaffUser = request.state.staff
    try:
        change_password(
            session,
            user,
            _password(form, "current"),
            _password(form, "password"),
            _password(form, "repeat"),
        )
    except StaffError as exc:
        field = "current" if "current" in str(exc) else "password"
        context = {"errors": {field: f"{str(exc)[:1].upper()}{str(exc)[1:]}."}, "notice": ""}
        return render(request, "staff/account.html", context, 400)
    # Every session ended with the change, this one too; this browser gets a fresh one.
    log_in(request, session, user)
    session.commit()
    return RedirectResponse("/staff/account?notice=password", status_code=303)


# --- forgotten password --------------------------------------------------------------------


@public_router.get("", response_class=HTMLResponse)
def reset_form(request: Request) -> Response:
    return render(request, "staff/password_reset.html", {"values": {}, "errors": {}})


@public_router.post("", response_class=HTMLResponse)
def reset_request(
    request: Request,
    background: BackgroundTasks,
    form: FormData = Depends(read_form),
    session: Session = Depends(db_session),
) -> Response:
    email = forms.text(form, "email", 320).lower()
    if "@" not in email:
        errors = {"email": "Enter the email address you sign in with."}
        return render(request, "staff/password_reset.html", {"values": {}, "errors": errors}, 400)
    try:
        password_reset.take_allowance(session, email, client_address(request))
    except password_reset.TooManyRequests:
        session.commit()
        return render(
            request, "public/too_many.html", status_code=429, headers={"Retry-After": "3600"}
        )
    session.commit()
    # The same work for every address; a worker finds out whether it is an account's.
    background.add_task(dispatch.password_reset_requested, email)
    return RedirectResponse("/staff/password-reset/sent", status_code=303)


@public_router.get("/sent", response_class=HTMLResponse)
def reset_sent(request: Request) -> Response:
    return render(request, "staff/password_reset_sent.html")


@public_router.get("/{token}", response_class=HTMLResponse)
def reset_link(token: str, request: Request, session: Session = Depends(db_session)) -> Response:
    try:
        password_reset.check(session, token)
    except password_reset.ResetLinkError as exc:
        return _bad_link(request, exc)
    return render(request, "staff/password_new.html", {"errors": {}})


@public_router.post("/{token}", response_class=HTMLResponse)
def reset_use(
    token: str,
    request: Request,
    form: FormData = Depends(read_form),
    session: Session = Depends(db_session),
) -> Response:
    try:
        password_reset.use(session, token, _password(form, "password"), _password(form, "repeat"))
    except password_reset.ResetLinkError as exc:
        session.rollback()
        return _bad_link(request, exc)
    except StaffError as exc:
        session.rollback()
        errors = {"password": f"{str(exc)[:1].upper()}{str(exc)[1:]}."}
        return render(request, "staff/password_new.html", {"errors": errors}, 400)
    session.commit()
    return RedirectResponse("/staff/login?notice=reset", status_code=303)


def _bad_link(request: Request, exc: Exception) -> Response:
    message = f"{str(exc)[:1].upper()}{str(exc)[1:]}. You can ask for a new one."
    context = {"title": "This link does not work", "message": message, "status_code": 400}
    return render(request, "error.html", context | {"offer_password_reset": True}, 400)

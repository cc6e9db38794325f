"""The console's front door: the sign-in page (open to all, throttled) and signing out."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from newsletter import audit, login_throttle
from newsletter.staff import authenticate
from newsletter.web import forms
from newsletter.web.auth import (
    STAFF_ONLY,
    actor,
    log_in,
    log_out,
    read_form,
    safe_next,
    verify_csrf,
)
from newsletter.web.deps import client_address, db_session
from newsletter.web.templating import render

router = APIRouter(prefix="/staff", include_in_schema=False)
signed_in_router = APIRouter(prefix="/staff", include_in_schema=False, dependencies=STAFF_ONLY)


LOGIN_NOTICES = {
    "reset": "Your new password is set. Sign in with it.",
    "password": "Your password is changed. Sign in again with the new one.",
}


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/staff", notice: str = "") -> Response:
    return _login_page(request, {"next": safe_next(next)}, {}, LOGIN_NOTICES.get(notice, ""))


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(verify_csrf)])
def login(
    request: Request,
    form: FormData = Depends(read_form),
    session: Session = Depends(db_session),
) -> Response:
    values = {"email": forms.text(form, "email", 320).lower(), "next": forms.text(form, "next")}
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    client = client_address(request)
    wait = login_throttle.wait_before_next(session, values["email"], client)
    if wait:
        message = (
            "Too many failed sign-ins from here. "
            f"Wait {login_throttle.wait_phrase(wait)}, then try again."
        )
        headers = {"Retry-After": str(int(wait.total_seconds()) + 1)}
        return _login_page(request, values, {"form": message}, "", 429, headers)
    user = authenticate(session, values["email"], password)
    if user is None:
        login_throttle.record_failure(session, values["email"], client)
        session.commit()
        errors = {"form": "The email or password is not right."}
        return _login_page(request, values, errors, "", 400)
    login_throttle.record_success(session, values["email"], client)
    audit.record(session, actor(user), "staff.login", "staff", user.id, client=client)
    log_in(request, session, user)
    session.commit()
    return RedirectResponse(safe_next(values["next"]), status_code=303)


def _login_page(
    request: Request,
    values: dict[str, str],
    errors: forms.Errors,
    notice: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    context = {"values": values, "errors": errors, "notice": notice}
    return render(request, "staff/login.html", context, status_code, headers)


@signed_in_router.post("/logout")
def logout(request: Request, session: Session = Depends(db_session)) -> Response:
    log_out(request, session)
    session.commit()
    return RedirectResponse("/staff/login", status_code=303)

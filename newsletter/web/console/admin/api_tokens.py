"""Admin: API tokens for integrations, created (shown once) and revoked."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from newsletter import api_tokens
from newsletter.models import utcnow
from newsletter.web import forms
from newsletter.web.auth import ADMIN_ONLY, actor, read_form, signed_in
from newsletter.web.deps import Id, db_session
from newsletter.web.templating import render

router = APIRouter(prefix="/staff/admin", include_in_schema=False, dependencies=ADMIN_ONLY)


@router.get("/tokens", response_class=HTMLResponse)
def tokens(request: Request, session: Session = Depends(db_session)) -> Response:
    return _tokens_page(request, session, {}, {}, "")


@router.post("/tokens", response_class=HTMLResponse)
def token_create(
    request: Request, session: Session = Depends(db_session), form: FormData = Depends(read_form)
) -> Response:
    values = {"name": forms.text(form, "name", 300), "expires": forms.text(form, "expires", 20)}
    scopes = forms.texts(form, "scope", 30)
    values["scopes"] = " ".join(scopes)
    expires, problem = _expiry(values["expires"])
    if problem:
        return _tokens_page(request, session, values, {"expires": problem}, "", 400)
    try:
        _, plaintext = api_tokens.create_token(
            session, values["name"], actor(signed_in(request)), scopes, expires
        )
    except api_tokens.ApiTokenError as exc:
        return _tokens_page(request, session, values, {exc.field: str(exc)}, "", 400)
    session.commit()
    # Shown once, in this answer only: it is stored hashed and cannot be shown again.
    return _tokens_page(request, session, {}, {}, plaintext)


@router.post("/tokens/{token_id}/revoke", response_class=HTMLResponse)
def token_revoke(
    token_id: Id, request: Request, session: Session = Depends(db_session)
) -> Response:
    try:
        api_tokens.revoke_token(session, token_id, actor(signed_in(request)))
    except api_tokens.ApiTokenError as exc:
        raise HTTPException(404, str(exc)) from None
    session.commit()
    return RedirectResponse("/staff/admin/tokens", 303)


def _expiry(raw: str) -> tuple[datetime | None, str]:
    """The start of the chosen day (UTC): the token works until then. ("", no expiry.)"""
    if not raw:
        return None, ""
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None, "Give the date as YYYY-MM-DD, or leave it empty."
    return datetime.combine(day, time.min, tzinfo=UTC), ""


def _tokens_page(
    request: Request,
    session: Session,
    values: dict[str, str],
    errors: forms.Errors,
    new_token: str,
    status_code: int = 200,
) -> Response:
    context = {
        "tokens": api_tokens.list_tokens(session),
        "values": values,
        "errors": errors,
        "new_token": new_token,
        "scopes": api_tokens.SCOPES,
        "now": utcnow(),
    }
    headers = {"Cache-Control": "no-store"}
    return render(request, "admin/tokens.html", context, status_code, headers)

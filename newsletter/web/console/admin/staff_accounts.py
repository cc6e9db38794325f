"""Admin: staff accounts, their roles, deactivation, and ending their sessions."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from newsletter import staff, staff_sessions
from newsletter.web import forms
from newsletter.web.auth import ADMIN_ONLY, actor, read_form, signed_in
from newsletter.web.deps import Id, db_session
from newsletter.web.templating import render

router = APIRouter(prefix="/staff/admin", include_in_schema=False, dependencies=ADMIN_ONLY)


@router.get("/staff", response_class=HTMLResponse)
def staff_users(request: Request, session: Session = Depends(db_session)) -> Response:
    return _staff_page(request, session, {}, {})


@router.post("/staff", response_class=HTMLResponse)
def staff_create(
    request: Request, session: Session = Depends(db_session), form: FormData = Depends(read_form)
) -> Response:
    values = {"email": forms.text(form, "email", 320), "role": forms.text(form, "role", 20)}
    password = form.get("password")
    try:
        role = staff.parse_role(values["role"])
        staff.create_staff(
            session,
            values["email"],
            password if isinstance(password, str) else "",
            role,
            actor=actor(signed_in(request)),
        )
    except staff.StaffError as exc:
        field = "password" if "password" in str(exc) else "role" if "role" in str(exc) else "email"
        return _staff_page(request, session, values, {field: str(exc)}, 400)
    session.commit()
    return RedirectResponse("/staff/admin/staff", 303)


@router.post("/staff/{user_id}", response_class=HTMLResponse)
def staff_update(
    user_id: Id,
    request: Request,
    session: Session = Depends(db_session),
    form: FormData = Depends(read_form),
) -> Response:
    user = staff.get_staff(session, user_id)
    if user is None:
        raise HTTPException(404, "There is no such staff account.")
    try:
        role = staff.parse_role(forms.text(form, "role", 20))
        active = forms.text(form, "active", 10) == "yes"
        staff.update_staff(session, user, role, active, actor(signed_in(request)))
    except staff.StaffError as exc:
        session.rollback()
        return _staff_page(request, session, {}, {f"user-{user_id}": str(exc)}, 400)
    session.commit()
    return RedirectResponse("/staff/admin/staff", 303)


@router.post("/staff/{user_id}/sessions", response_class=HTMLResponse)
def staff_sessions_end(
    user_id: Id, request: Request, session: Session = Depends(db_session)
) -> Response:
    """Sign an account out of every browser (a lost laptop, a copied cookie)."""
    user = staff.get_staff(session, user_id)
    if user is None:
        raise HTTPException(404, "There is no such staff account.")
    staff.end_sessions(session, user, actor(signed_in(request)))
    session.commit()
    return RedirectResponse("/staff/admin/staff", 303)


def _staff_page(
    request: Request,
    session: Session,
    values: dict[str, str],
    errors: forms.Errors,
    status_code: int = 200,
) -> Response:
    context = {
        "users": staff.list_staff(session),
        "sessions": staff_sessions.active_counts(session),
        "values": values,
        "errors": errors,
    }
    return render(request, "admin/staff.html", context, status_code)

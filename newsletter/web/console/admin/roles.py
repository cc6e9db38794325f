"""Admin: members' roles and the topics a new member in each starts with (role_defaults)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from newsletter import role_defaults
from newsletter.models import MemberRole
from newsletter.topics import list_topics
from newsletter.web import forms
from newsletter.web.auth import ADMIN_ONLY, actor, read_form, signed_in
from newsletter.web.deps import Id, db_session
from newsletter.web.templating import render

router = APIRouter(prefix="/staff/admin", include_in_schema=False, dependencies=ADMIN_ONLY)

NOTICES = {"saved": "Saved. New members in this role start with these topics."}


@router.get("/roles", response_class=HTMLResponse)
def roles(request: Request, session: Session = Depends(db_session)) -> Response:
    return _roles_page(request, session, {}, {})


@router.post("/roles", response_class=HTMLResponse)
def role_add(
    request: Request, session: Session = Depends(db_session), form: FormData = Depends(read_form)
) -> Response:
    values = {"name": forms.text(form, "name", 200)}
    try:
        role = role_defaults.add_role(session, values["name"], actor(signed_in(request)))
    except role_defaults.RoleError as exc:
        return _roles_page(request, session, values, {"name": str(exc)}, 400)
    session.commit()
    return RedirectResponse(f"/staff/admin/roles/{role.id}", 303)


@router.get("/roles/{role_id}", response_class=HTMLResponse)
def role_page(
    role_id: Id, request: Request, done: str = "", session: Session = Depends(db_session)
) -> Response:
    role = _role(session, role_id)
    values = forms.frequency_values(role_defaults.defaults_of(role))
    return _role_page(request, session, role, values, {}, NOTICES.get(done, ""))


@router.post("/roles/{role_id}", response_class=HTMLResponse)
def role_save(
    role_id: Id,
    request: Request,
    session: Session = Depends(db_session),
    form: FormData = Depends(read_form),
) -> Response:
    role = _role(session, role_id)
    errors: forms.Errors = {}
    chosen = forms.topic_frequencies(form, list_topics(session), errors)
    if errors:
        return _role_page(request, session, role, forms.frequency_values(chosen), errors, "", 400)
    role_defaults.set_defaults(session, role, chosen, actor(signed_in(request)))
    session.commit()
    return RedirectResponse(f"/staff/admin/roles/{role.id}?done=saved", 303)


def _role(session: Session, role_id: int) -> MemberRole:
    found = session.get(MemberRole, role_id)
    if found is None:
        raise HTTPException(404, "There is no such role.")
    return found


def _roles_page(
    request: Request,
    session: Session,
    values: dict[str, str],
    errors: forms.Errors,
    status_code: int = 200,
) -> Response:
    context = {"roles": role_defaults.list_roles(session), "values": values, "errors": errors}
    return render(request, "admin/roles.html", context, status_code)


def _role_page(
    request: Request,
    session: Session,
    role: MemberRole,
    values: dict[str, str],
    errors: forms.Errors,
    notice: str,
    status_code: int = 200,
) -> Response:
    context = {"role": role, "topics": list_topics(session), "values": values, "errors": errors}
    context["notice"] = notice
    return render(request, "admin/role.html", context, status_code)

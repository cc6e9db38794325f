"""Admin: the suppression list (addresses never mailed), added to and removed from by hand."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from newsletter import suppressions
from newsletter.web import forms
from newsletter.web.auth import ADMIN_ONLY, actor, read_form, signed_in
from newsletter.web.deps import Id, db_session
from newsletter.web.templating import render

router = APIRouter(prefix="/staff/admin", include_in_schema=False, dependencies=ADMIN_ONLY)


@router.get("/suppression", response_class=HTMLResponse)
def suppression(
    request: Request, q: str = "", notice: str = "", session: Session = Depends(db_session)
) -> Response:
    return _suppression_page(request, session, forms.clean(q, 200), {}, {}, notice)


@router.post("/suppression", response_class=HTMLResponse)
def suppression_add(
    request: Request, session: Session = Depends(db_session), form: FormData = Depends(read_form)
) -> Response:
    values = {"email": forms.text(form, "email", 320), "note": forms.text(form, "note", 2000)}
    try:
        who = actor(signed_in(request))
        suppressions.add_suppression(session, values["email"], values["note"], who)
    except suppressions.SuppressionError as exc:
        return _suppression_page(request, session, "", values, {"email": str(exc)}, "", 400)
    session.commit()
    return RedirectResponse("/staff/admin/suppression?notice=added", 303)


@router.post("/suppression/{suppression_id}/remove", response_class=HTMLResponse)
def suppression_remove(
    suppression_id: Id,
    request: Request,
    session: Session = Depends(db_session),
    form: FormData = Depends(read_form),
) -> Response:
    reason = forms.text(form, "reason", 2000)
    try:
        suppressions.remove_suppression(session, suppression_id, reason, actor(signed_in(request)))
    except suppressions.SuppressionError as exc:
        errors = {f"reason-{suppression_id}": str(exc)}
        return _suppression_page(request, session, "", {}, errors, "", 400)
    session.commit()
    return RedirectResponse("/staff/admin/suppression?notice=removed", 303)


def _suppression_page(
    request: Request,
    session: Session,
    q: str,
    values: dict[str, str],
    errors: forms.Errors,
    notice: str,
    status_code: int = 200,
) -> Response:
    context = {
        "rows": suppressions.list_suppressions(session, q),
        "total": suppressions.count_suppressions(session),
        "q": q,
        "values": values,
        "errors": errors,
        "notice": {"added": "Added to the list.", "removed": "Removed from the list."}.get(
            notice, ""
        ),
    }
    return render(request, "admin/suppression.html", context, status_code)

"""Admin: the audit log, searchable by actor, action or object id."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from newsletter import audit
from newsletter.web import forms
from newsletter.web.auth import ADMIN_ONLY
from newsletter.web.deps import db_session
from newsletter.web.templating import render

router = APIRouter(prefix="/staff/admin", include_in_schema=False, dependencies=ADMIN_ONLY)

PAGE_SIZE = 50


@router.get("/audit", response_class=HTMLResponse)
def audit_log(
    request: Request,
    q: str = "",
    page: int = 1,
    session: Session = Depends(db_session),
) -> Response:
    q = forms.clean(q, 200)
    found = audit.search_events(session, q, page, PAGE_SIZE)
    context = {"events": found.rows, "q": q, "page": found.number, "pages": found.count}
    context["total"] = found.total
    return render(request, "admin/audit.html", context)

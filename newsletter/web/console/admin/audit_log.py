"""Admin: the audit log, searchable by actor, action or object id."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from newsletter.models import AuditEvent
from newsletter.web import forms
from newsletter.web.auth import ADMIN_ONLY
from newsletter.web.deps import db_session
from newsletter.web.paging import clamp_page, page_count
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
    query = select(AuditEvent)
    q = forms.clean(q, 200)
    if q:
        query = query.where(
            or_(
                AuditEvent.actor.contains(q, autoescape=True),
                AuditEvent.action.contains(q, autoescape=True),
                AuditEvent.object_id == q,
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = clamp_page(page, total, PAGE_SIZE)
    events = session.scalars(
        query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    context = {"events": list(events), "q": q, "page": page, "pages": page_count(total, PAGE_SIZE)}
    context["total"] = total
    return render(request, "admin/audit.html", context)

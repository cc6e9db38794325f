"""The bounces & complaints page: everything that came back (search, filter by kind) and
the evidence for each. Admins only, like the suppression list it feeds."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from newsletter.inbound import reports
from newsletter.models import InboundKind
from newsletter.web import forms
from newsletter.web.auth import ADMIN_ONLY
from newsletter.web.deps import Id, db_session
from newsletter.web.templating import render

router = APIRouter(prefix="/staff/admin/bounces", include_in_schema=False, dependencies=ADMIN_ONLY)

PAGE_SIZE = 50


@router.get("", response_class=HTMLResponse)
def bounces(
    request: Request,
    q: str = "",
    kind: str = "",
    page: int = 1,
    session: Session = Depends(db_session),
) -> Response:
    q = forms.clean(q, 200)
    events, total = reports.find_events(session, q, kind, page, PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    context = {
        "events": events,
        "total": total,
        "q": q,
        "kind": kind if kind in {k.value for k in InboundKind} else "",
        "kinds": [k.value for k in InboundKind],
        "page": max(1, min(page, pages)),
        "pages": pages,
        "blocks": reports.policy_blocks(session),
    }
    return render(request, "admin/bounces.html", context)


@router.get("/{event_id}", response_class=HTMLResponse)
def bounce(event_id: Id, request: Request, session: Session = Depends(db_session)) -> Response:
    event = reports.get_event(session, event_id)
    if event is None:
        raise HTTPException(404, "There is no such event.")
    return render(request, "admin/bounce.html", {"event": event})

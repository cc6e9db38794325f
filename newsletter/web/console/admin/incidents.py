"""Admin: dismissing an incident from the dashboard's banner."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from newsletter import incidents
from newsletter.models import utcnow
from newsletter.web.auth import ADMIN_ONLY, actor, read_form, signed_in
from newsletter.web.deps import Id, db_session

router = APIRouter(prefix="/staff/admin", include_in_schema=False, dependencies=ADMIN_ONLY)


@router.post("/incidents/{incident_id}/dismiss")
def incident_dismiss(
    incident_id: Id,
    request: Request,
    session: Session = Depends(db_session),
    form: FormData = Depends(read_form),
) -> Response:
    """Take an incident off the dashboard's banner (it still ends, or comes back, by itself)."""
    incidents.dismiss(session, incident_id, actor(signed_in(request)), utcnow())
    session.commit()
    return RedirectResponse("/staff", status_code=303)

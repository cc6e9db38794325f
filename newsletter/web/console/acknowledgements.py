"""Staff view of an urgent notice's acknowledgements: who has and has not read it, by topic
and role, its chases, and the list as CSV (newsletter.acknowledgements)."""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from newsletter import acknowledgements
from newsletter.chasing import ChaseRule, ChaseRuleError, parse_chase_rule
from newsletter.web import forms
from newsletter.web.auth import STAFF_ONLY
from newsletter.web.deps import Id, db_session
from newsletter.web.templating import render

router = APIRouter(prefix="/staff/sends", include_in_schema=False, dependencies=STAFF_ONLY)


def send_page_context(session: Session, send_id: int) -> dict[str, Any]:
    """What the send's own page shows: the tally of a notice, or the notice a chase chases."""
    place = acknowledgements.notice_of(session, send_id)
    return {
        "acknowledgements": acknowledgements.report(session, send_id),
        "chase_of": place if place is not None and place.round > 0 else None,
    }


class ChaseFields(Protocol):
    acknowledge: bool
    chase_days: str
    chase_times: str


def chase_rule_of(draft: ChaseFields, errors: forms.Errors) -> ChaseRule | None:
    """The compose form's chase rule when the notice needs acknowledging; a problem goes
    beside its field."""
    if not draft.acknowledge:
        return None
    try:
        return parse_chase_rule(draft.chase_days, draft.chase_times)
    except ChaseRuleError as exc:
        errors[exc.field] = f"{str(exc)[0].upper()}{str(exc)[1:]}."
        return None


def _report(session: Session, send_id: int) -> acknowledgements.Report:
    found = acknowledgements.report(session, send_id)
    if found is None:
        raise HTTPException(404, "That send is not a notice members acknowledge.")
    return found


@router.get("/{notice_id}/acknowledgements", response_class=HTMLResponse)
def acknowledgement_list(
    notice_id: Id, request: Request, session: Session = Depends(db_session)
) -> Response:
    found = _report(session, notice_id)
    return render(request, "staff/acknowledgements.html", {"report": found})


@router.get("/{notice_id}/acknowledgements.csv")
def acknowledgement_csv(notice_id: Id, session: Session = Depends(db_session)) -> Response:
    text = acknowledgements.report_csv(_report(session, notice_id))
    name = f"notice-{notice_id}-acknowledgements.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)

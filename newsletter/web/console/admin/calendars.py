"""Admin pages for each region's school terms (newsletter.school_calendar): the calendar
editor. Members who pause daily digests in school holidays follow these dates."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from newsletter import school_calendar
from newsletter.term_dates import TermError, region_key, region_label
from newsletter.web import forms
from newsletter.web.auth import ADMIN_ONLY, actor, read_form
from newsletter.web.deps import Id, db_session
from newsletter.web.templating import render

router = APIRouter(prefix="/staff/admin", include_in_schema=False, dependencies=ADMIN_ONLY)

NOTICES = {"added": "Term added.", "deleted": "Term deleted."}


@router.get("/terms", response_class=HTMLResponse)
def terms(request: Request, done: str = "", session: Session = Depends(db_session)) -> Response:
    return _terms_page(request, session, {"region": "england"}, {}, NOTICES.get(done, ""))


@router.post("/terms", response_class=HTMLResponse)
def term_add(
    request: Request, session: Session = Depends(db_session), form: FormData = Depends(read_form)
) -> Response:
    values = {name: forms.text(form, name, 200) for name in ("region", "name", "starts", "ends")}
    errors: forms.Errors = {}
    region = _region(values["region"], errors)
    starts = _day(values["starts"], "starts", errors)
    ends = _day(values["ends"], "ends", errors)
    if starts and ends and ends < starts:
        errors["ends"] = f"The last day ({ends}) is before the first ({starts})."
    if not errors and region and starts and ends:
        try:
            school_calendar.add_term(
                session, region, values["name"], starts, ends, actor(request.state.staff)
            )
        except TermError as exc:
            problem = str(exc).removeprefix("this term: ")
            errors["starts"] = f"{problem[:1].upper()}{problem[1:]}."
    if errors:
        return _terms_page(request, session, values, errors, "", 400)
    session.commit()
    return RedirectResponse("/staff/admin/terms?done=added", 303)


@router.post("/terms/{term_id}/delete", response_class=HTMLResponse)
def term_delete(term_id: Id, request: Request, session: Session = Depends(db_session)) -> Response:
    try:
        school_calendar.delete_term(session, term_id, actor(request.state.staff))
    except TermError:
        gone = {"form": "That term was already deleted."}
        return _terms_page(request, session, {}, gone, "", 404)
    session.commit()
    return RedirectResponse("/staff/admin/terms?done=deleted", 303)


def _region(text: str, errors: forms.Errors) -> str | None:
    try:
        return region_key(text)
    except TermError:
        errors["region"] = "Enter a region: letters, digits, spaces or hyphens (e.g. Wales)."
        return None


def _day(text: str, field: str, errors: forms.Errors) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[field] = "Enter a date, like 2026-09-03."
        return None


def _terms_page(
    request: Request,
    session: Session,
    values: dict[str, str],
    errors: forms.Errors,
    notice: str,
    status_code: int = 200,
) -> Response:
    context = {
        "by_region": school_calendar.terms_by_region(session),
        "label": region_label,
        "values": values,
        "errors": errors,
        "notice": notice,
    }
    return render(request, "admin/terms.html", context, status_code)

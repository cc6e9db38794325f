"""Admin: members imported from CSV (in the background when large) and exported as CSV."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from newsletter import audit, background_jobs
from newsletter.member_csv import CsvFormatError, decode_csv
from newsletter.member_export import export_members
from newsletter.member_import import import_members
from newsletter.web import forms
from newsletter.web.auth import ADMIN_ONLY, actor, read_form, signed_in
from newsletter.web.console.jobs import start_job
from newsletter.web.deps import db_session
from newsletter.web.templating import render

router = APIRouter(prefix="/staff/admin", include_in_schema=False, dependencies=ADMIN_ONLY)


@router.get("/members-import", response_class=HTMLResponse)
def import_form(request: Request) -> Response:
    return render(request, "admin/import.html", {"errors": {}, "report": None, "values": {}})


@router.post("/members-import", response_class=HTMLResponse)
def import_csv(
    request: Request,
    background: BackgroundTasks,
    session: Session = Depends(db_session),
    form: FormData = Depends(read_form),
) -> Response:
    partial = forms.text(form, "partial", 10) == "yes"
    values = {"text": forms.text(form, "text", 5_000_000), "partial": "yes" if partial else ""}
    values["consent"] = forms.text(form, "consent", 300)
    errors: forms.Errors = {}
    text = _csv_text(form, values, errors)
    if not errors and background_jobs.runs_in_background(text):
        options = {"partial": partial, "consent": values["consent"]}
        return start_job(session, request, background, background_jobs.MEMBER_IMPORT, text, options)
    report = None
    if not errors:
        try:
            report = import_members(
                session,
                text,
                partial=partial,
                actor=actor(signed_in(request)),
                consent_basis=values["consent"],
            )
        except CsvFormatError as exc:
            errors["file"] = str(exc)
    if errors or report is None:
        return render(
            request, "admin/import.html", {"errors": errors, "report": None, "values": values}, 400
        )
    session.commit()
    status_code = 200 if report.written else 400
    context = {"errors": {}, "report": report, "values": values}
    return render(request, "admin/import.html", context, status_code)


def _csv_text(form: FormData, values: dict[str, str], errors: forms.Errors) -> str:
    upload = forms.upload(form, "file")
    if upload is None:
        if not values["text"]:
            errors["file"] = "Choose a CSV file, or paste the rows."
        return values["text"]
    try:
        return decode_csv(upload.file.read())
    except CsvFormatError as exc:
        errors["file"] = f"The file is {exc}."
        return ""


@router.get("/members-export.csv")
def export_csv(request: Request, session: Session = Depends(db_session)) -> Response:
    audit.record(session, actor(signed_in(request)), "member.export", "member")
    text = export_members(session)
    session.commit()
    headers = {"Content-Disposition": 'attachment; filename="members.csv"'}
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)

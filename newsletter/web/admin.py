"""Admin pages: members and their subscriptions, CSV import/export, suppression list, staff
accounts, topic keyword rules, API tokens and the audit log. Admins only (ADMIN_ONLY)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload
from starlette.datastructures import FormData

from newsletter import (
    api_tokens,
    audit,
    background_jobs,
    consent,
    incidents,
    preferences,
    staff,
    staff_sessions,
    suppressions,
    topic_rules,
)
from newsletter.consent import Change
from newsletter.inbound import reports
from newsletter.member_csv import CsvFormatError, decode_csv
from newsletter.member_export import export_members
from newsletter.member_import import import_members
from newsletter.members import edit_member
from newsletter.models import AuditEvent, ConsentSource, Member, MemberStatus, StaffUser, utcnow
from newsletter.topics import SLUG_PATTERN, list_topics
from newsletter.web import forms
from newsletter.web.auth import ADMIN_ONLY, actor, read_form
from newsletter.web.deps import Id, db_session
from newsletter.web.staff_jobs import start_job
from newsletter.web.templating import render

router = APIRouter(prefix="/staff/admin", include_in_schema=False, dependencies=ADMIN_ONLY)

PAGE_SIZE = 50


def _me(request: Request) -> StaffUser:
    return request.state.staff  # type: ignore[no-any-return]


def _page_count(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))


# --- members -------------------------------------------------------------------------------


@router.get("/members", response_class=HTMLResponse)
def members(
    request: Request,
    q: str = "",
    status: str = "",
    page: int = 1,
    session: Session = Depends(db_session),
) -> Response:
    query = select(Member)
    q = forms.clean(q, 200)
    if q:
        query = query.where(
            or_(
                Member.email.contains(q.lower(), autoescape=True),
                func.lower(Member.name).contains(q.lower(), autoescape=True),
            )
        )
    if status in {s.value for s in MemberStatus}:
        query = query.where(Member.status == MemberStatus(status))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, min(page, _page_count(total)))
    found = session.scalars(
        query.options(selectinload(Member.subscriptions))
        .order_by(Member.email)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    context = {
        "members": list(found),
        "total": total,
        "q": q,
        "status": status,
        "statuses": [s.value for s in MemberStatus],
        "page": page,
        "pages": _page_count(total),
        "topic_names": {t.id: t.name for t in list_topics(session)},
    }
    return render(request, "admin/members.html", context)


def _member(session: Session, member_id: int) -> Member:
    found = session.scalar(
        select(Member).where(Member.id == member_id).options(selectinload(Member.subscriptions))
    )
    if found is None:
        raise HTTPException(404, "There is no such member.")
    return found


@router.get("/members/{member_id}", response_class=HTMLResponse)
def member_page(
    member_id: Id, request: Request, notice: str = "", session: Session = Depends(db_session)
) -> Response:
    found = _member(session, member_id)
    return _member_page(request, session, found, {}, {}, notice)


@router.post("/members/{member_id}", response_class=HTMLResponse)
def member_update(
    member_id: Id,
    request: Request,
    session: Session = Depends(db_session),
    form: FormData = Depends(read_form),
) -> Response:
    found = _member(session, member_id)
    who = actor(_me(request))
    if forms.text(form, "action", 30) == "revoke-links":
        preferences.revoke_links(session, found, who)
        session.commit()
        return RedirectResponse(f"/staff/admin/members/{member_id}?notice=revoked", 303)
    errors: forms.Errors = {}
    values = {"name": forms.text(form, "name", 200), "role": forms.text(form, "role", 100)}
    values["status"] = forms.text(form, "status", 20)
    values["override"] = "yes" if forms.text(form, "override", 10) == "yes" else ""
    values["reason"] = forms.text(form, "reason", 2000)
    chosen = forms.topic_frequencies(form, list_topics(session), errors)
    values.update(forms.frequency_values(chosen))
    if values["status"] not in {s.value for s in MemberStatus}:
        errors["status"] = "Choose a status."
    if values["override"] and not values["reason"]:
        errors["reason"] = (
            "Say why the member is re-subscribed against their opt-out: it goes into their "
            "consent record and the audit log."
        )
    if errors:
        return _member_page(request, session, found, values, errors, "", 400)
    change = Change(
        ConsentSource.CONSOLE,
        who,
        reason=values["reason"] if values["override"] else "",
        override_opt_out=bool(values["override"]),
    )
    edit = edit_member(
        session,
        found,
        values["name"],
        values["role"],
        chosen,
        MemberStatus(values["status"]),
        change,
    )
    preferences.cancel_stale_deliveries(session, found)
    session.commit()
    if edit.kept:
        return _member_page(request, session, found, {}, {}, "saved", kept=edit.kept)
    return RedirectResponse(f"/staff/admin/members/{member_id}?notice=saved", 303)


def _member_page(
    request: Request,
    session: Session,
    found: Member,
    values: dict[str, str],
    errors: forms.Errors,
    notice: str,
    status_code: int = 200,
    kept: list[consent.KeptUnsubscribed] | None = None,
) -> Response:
    if not values:
        values = _member_values(session, found)
    history = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == "member", AuditEvent.object_id == str(found.id))
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(20)
    )
    context = {
        "member": found,
        "topics": list_topics(session),
        "statuses": [s.value for s in MemberStatus],
        "values": values,
        "errors": errors,
        "notice": {"saved": "Saved.", "revoked": "Every link sent so far has stopped working."}.get(
            notice, ""
        ),
        "kept": kept or [],
        "opt_outs": consent.opt_outs_of(session, found),
        "consent_record": list(reversed(consent.history_entries(session, found.id))),
        "history": list(history),
        "bounce_events": reports.member_history(session, found.id),
    }
    return render(request, "admin/member.html", context, status_code)


def _member_values(session: Session, found: Member) -> dict[str, str]:
    values = {"name": found.name, "role": found.role, "status": found.status.value}
    values.update(forms.frequency_values(preferences.subscription_map(session, found)))
    return values


# --- CSV -----------------------------------------------------------------------------------


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
                actor=actor(_me(request)),
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
    audit.record(session, actor(_me(request)), "member.export", "member")
    text = export_members(session)
    session.commit()
    headers = {"Content-Disposition": 'attachment; filename="members.csv"'}
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


# --- suppression list ----------------------------------------------------------------------


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
        suppressions.add_suppression(session, values["email"], values["note"], actor(_me(request)))
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
        suppressions.remove_suppression(session, suppression_id, reason, actor(_me(request)))
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


# --- staff accounts ------------------------------------------------------------------------


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
            actor=actor(_me(request)),
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
        staff.update_staff(session, user, role, active, actor(_me(request)))
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
    staff.end_sessions(session, user, actor(_me(request)))
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


# --- topic keyword rules -------------------------------------------------------------------


@router.get("/topics", response_class=HTMLResponse)
def topic_rules_page(request: Request, session: Session = Depends(db_session)) -> Response:
    return _rules_page(request, session, {}, {})


@router.post("/topics/{slug}/rules", response_class=HTMLResponse)
def rule_add(
    slug: str,
    request: Request,
    session: Session = Depends(db_session),
    form: FormData = Depends(read_form),
) -> Response:
    if not SLUG_PATTERN.match(slug):
        raise HTTPException(404, "There is no such topic.")
    values = {f"phrase-{slug}": forms.text(form, "phrase", 200)}
    values[f"weight-{slug}"] = forms.text(form, "weight", 20) or "1"
    try:
        weight = float(values[f"weight-{slug}"])
        topic_rules.add_rule(session, slug, values[f"phrase-{slug}"], weight, actor(_me(request)))
    except ValueError as exc:
        message = str(exc) if isinstance(exc, topic_rules.RuleError) else "Enter a number."
        return _rules_page(request, session, values, {f"phrase-{slug}": message}, 400)
    session.commit()
    return RedirectResponse(f"/staff/admin/topics#topic-{slug}", 303)


@router.post("/rules/{rule_id}/delete", response_class=HTMLResponse)
def rule_delete(rule_id: Id, request: Request, session: Session = Depends(db_session)) -> Response:
    try:
        topic_rules.remove_rule(session, rule_id, actor(_me(request)))
    except topic_rules.RuleError as exc:
        raise HTTPException(404, str(exc)) from None
    session.commit()
    return RedirectResponse("/staff/admin/topics", 303)


def _rules_page(
    request: Request,
    session: Session,
    values: dict[str, str],
    errors: forms.Errors,
    status_code: int = 200,
) -> Response:
    context = {"topics": topic_rules.rules_by_topic(session), "values": values, "errors": errors}
    return render(request, "admin/topics.html", context, status_code)


# --- API tokens ----------------------------------------------------------------------------


@router.get("/tokens", response_class=HTMLResponse)
def tokens(request: Request, session: Session = Depends(db_session)) -> Response:
    return _tokens_page(request, session, {}, {}, "")


@router.post("/tokens", response_class=HTMLResponse)
def token_create(
    request: Request, session: Session = Depends(db_session), form: FormData = Depends(read_form)
) -> Response:
    values = {"name": forms.text(form, "name", 300), "expires": forms.text(form, "expires", 20)}
    scopes = forms.texts(form, "scope", 30)
    values["scopes"] = " ".join(scopes)
    expires, problem = _expiry(values["expires"])
    if problem:
        return _tokens_page(request, session, values, {"expires": problem}, "", 400)
    try:
        _, plaintext = api_tokens.create_token(
            session, values["name"], actor(_me(request)), scopes, expires
        )
    except api_tokens.ApiTokenError as exc:
        return _tokens_page(request, session, values, {exc.field: str(exc)}, "", 400)
    session.commit()
    # Shown once, in this answer only: it is stored hashed and cannot be shown again.
    return _tokens_page(request, session, {}, {}, plaintext)


@router.post("/tokens/{token_id}/revoke", response_class=HTMLResponse)
def token_revoke(
    token_id: Id, request: Request, session: Session = Depends(db_session)
) -> Response:
    try:
        api_tokens.revoke_token(session, token_id, actor(_me(request)))
    except api_tokens.ApiTokenError as exc:
        raise HTTPException(404, str(exc)) from None
    session.commit()
    return RedirectResponse("/staff/admin/tokens", 303)


def _expiry(raw: str) -> tuple[datetime | None, str]:
    """The start of the chosen day (UTC): the token works until then. ("", no expiry.)"""
    if not raw:
        return None, ""
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None, "Give the date as YYYY-MM-DD, or leave it empty."
    return datetime.combine(day, time.min, tzinfo=UTC), ""


def _tokens_page(
    request: Request,
    session: Session,
    values: dict[str, str],
    errors: forms.Errors,
    new_token: str,
    status_code: int = 200,
) -> Response:
    context = {
        "tokens": api_tokens.list_tokens(session),
        "values": values,
        "errors": errors,
        "new_token": new_token,
        "scopes": api_tokens.SCOPES,
        "now": utcnow(),
    }
    headers = {"Cache-Control": "no-store"}
    return render(request, "admin/tokens.html", context, status_code, headers)


# --- audit log -----------------------------------------------------------------------------


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
    page = max(1, min(page, _page_count(total)))
    events = session.scalars(
        query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    context = {"events": list(events), "q": q, "page": page, "pages": _page_count(total)}
    context["total"] = total
    return render(request, "admin/audit.html", context)


# --- incidents -----------------------------------------------------------------------------


@router.post("/incidents/{incident_id}/dismiss")
def incident_dismiss(
    incident_id: Id,
    request: Request,
    session: Session = Depends(db_session),
    form: FormData = Depends(read_form),
) -> Response:
    """Take an incident off the dashboard's banner (it still ends, or comes back, by itself)."""
    incidents.dismiss(session, incident_id, actor(_me(request)), utcnow())
    session.commit()
    return RedirectResponse("/staff", status_code=303)

"""Admin: members, their subscriptions and consent record, and revoking their links."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from newsletter import audit, consent, preferences
from newsletter.consent import Change
from newsletter.inbound import reports
from newsletter.members import edit_member, member_with_subscriptions, search_members
from newsletter.models import ConsentSource, Member, MemberStatus
from newsletter.topics import list_topics
from newsletter.web import forms
from newsletter.web.auth import ADMIN_ONLY, actor, read_form, signed_in
from newsletter.web.deps import Id, db_session
from newsletter.web.templating import render

router = APIRouter(prefix="/staff/admin", include_in_schema=False, dependencies=ADMIN_ONLY)

PAGE_SIZE = 50


@router.get("/members", response_class=HTMLResponse)
def members(
    request: Request,
    q: str = "",
    status: str = "",
    page: int = 1,
    session: Session = Depends(db_session),
) -> Response:
    q = forms.clean(q, 200)
    wanted = MemberStatus(status) if status in {s.value for s in MemberStatus} else None
    found = search_members(session, q, wanted, page, PAGE_SIZE)
    context = {
        "members": found.rows,
        "total": found.total,
        "q": q,
        "status": status,
        "statuses": [s.value for s in MemberStatus],
        "page": found.number,
        "pages": found.count,
        "topic_names": {t.id: t.name for t in list_topics(session)},
    }
    return render(request, "admin/members.html", context)


def _member(session: Session, member_id: int) -> Member:
    found = member_with_subscriptions(session, member_id)
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
    who = actor(signed_in(request))
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
        "history": audit.events_about(session, "member", found.id, limit=20),
        "bounce_events": reports.member_history(session, found.id),
    }
    return render(request, "admin/member.html", context, status_code)


def _member_values(session: Session, found: Member) -> dict[str, str]:
    values = {"name": found.name, "role": found.role, "status": found.status.value}
    values.update(forms.frequency_values(preferences.subscription_map(session, found)))
    return values

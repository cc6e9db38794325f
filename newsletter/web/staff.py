"""The staff console's front door: sign in and out, and the dashboard.

Every console router is collected in `routers`; all but the login page carry the
STAFF_ONLY or ADMIN_ONLY guards, so no console page answers an anonymous request.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from newsletter import audit, incidents, login_throttle
from newsletter.delivery.progress import delivery_counts, list_sends
from newsletter.inbound import reports
from newsletter.models import Send, SendStatus, utcnow
from newsletter.observability.status import live_problems
from newsletter.staff import authenticate
from newsletter.web import (
    charts,
    dashboard,
    forms,
    staff_account,
    staff_articles,
    staff_inbound,
    staff_jobs,
    staff_sends,
)
from newsletter.web.auth import (
    STAFF_ONLY,
    actor,
    log_in,
    log_out,
    read_form,
    safe_next,
    verify_csrf,
)
from newsletter.web.console.admin import (
    api_tokens,
    audit_log,
    keyword_rules,
    member_files,
    members,
    roles,
    staff_accounts,
    suppression_list,
)
from newsletter.web.console.admin import (
    incidents as incident_banner,
)
from newsletter.web.deps import MAX_ID, client_address, db_session
from newsletter.web.templating import render

login_router = APIRouter(prefix="/staff", include_in_schema=False)
router = APIRouter(prefix="/staff", include_in_schema=False, dependencies=STAFF_ONLY)

LIVE = (SendStatus.SCHEDULED, SendStatus.SENDING)


LOGIN_NOTICES = {
    "reset": "Your new password is set. Sign in with it.",
    "password": "Your password is changed. Sign in again with the new one.",
}


@login_router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/staff", notice: str = "") -> Response:
    return _login_page(request, {"next": safe_next(next)}, {}, LOGIN_NOTICES.get(notice, ""))


@login_router.post("/login", response_class=HTMLResponse, dependencies=[Depends(verify_csrf)])
def login(
    request: Request,
    form: FormData = Depends(read_form),
    session: Session = Depends(db_session),
) -> Response:
    values = {"email": forms.text(form, "email", 320).lower(), "next": forms.text(form, "next")}
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    client = client_address(request)
    wait = login_throttle.wait_before_next(session, values["email"], client)
    if wait:
        message = (
            "Too many failed sign-ins from here. "
            f"Wait {login_throttle.wait_phrase(wait)}, then try again."
        )
        headers = {"Retry-After": str(int(wait.total_seconds()) + 1)}
        return _login_page(request, values, {"form": message}, "", 429, headers)
    user = authenticate(session, values["email"], password)
    if user is None:
        login_throttle.record_failure(session, values["email"], client)
        session.commit()
        errors = {"form": "The email or password is not right."}
        return _login_page(request, values, errors, "", 400)
    login_throttle.record_success(session, values["email"], client)
    audit.record(session, actor(user), "staff.login", "staff", user.id, client=client)
    log_in(request, session, user)
    session.commit()
    return RedirectResponse(safe_next(values["next"]), status_code=303)


def _login_page(
    request: Request,
    values: dict[str, str],
    errors: forms.Errors,
    notice: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    context = {"values": values, "errors": errors, "notice": notice}
    return render(request, "staff/login.html", context, status_code, headers)


@router.post("/logout")
def logout(request: Request, session: Session = Depends(db_session)) -> Response:
    log_out(request, session)
    session.commit()
    return RedirectResponse("/staff/login", status_code=303)


@router.get("", response_class=HTMLResponse)
def dashboard_page(request: Request, session: Session = Depends(db_session)) -> Response:
    sent = dashboard.sent_per_day(session)
    growth = dashboard.subscriber_growth(session)
    sends = list_sends(session, limit=12)
    context = {
        "sends": sends,
        "live": any(s["status"] in LIVE for s in sends),
        "sent": sent,
        "chart": charts.stacked_bars(
            sent.days, sent.series, f"Emails sent per day over {len(sent.days)} days"
        ),
        "colours": [charts.colour(i) for i in range(len(sent.series))],
        "growth": growth,
        "sparks": {g.slug: charts.sparkline(g.weekly, f"{g.name}: {g.now} now") for g in growth},
        "members": dashboard.member_totals(session),
        "blocks": reports.policy_blocks(session),
        "complaint_levels": reports.recent_complaint_levels(session, [s["id"] for s in sends]),
        "incidents": incidents.shown(session),
        "problems": live_problems(session, utcnow(), request.app.state.settings),
    }
    return render(request, "staff/dashboard.html", context)


@router.get("/progress.json")
def progress(
    ids: list[int] = Query(default=[], max_length=50), session: Session = Depends(db_session)
) -> JSONResponse:
    """Live counts for the sends on the page being watched (polled by live.js)."""
    ids = [i for i in ids if 0 < i <= MAX_ID]
    counts = delivery_counts(session, ids)
    statuses = dict(session.execute(select(Send.id, Send.status).where(Send.id.in_(ids))).all())
    return JSONResponse(
        {
            str(send_id): {"status": statuses[send_id].value, "counts": counts[send_id]}
            for send_id in ids
            if send_id in statuses
        }
    )


routers = [
    login_router,
    staff_account.public_router,
    router,
    staff_account.router,
    staff_articles.router,
    staff_sends.router,
    members.router,
    member_files.router,
    suppression_list.router,
    staff_accounts.router,
    keyword_rules.router,
    api_tokens.router,
    audit_log.router,
    incident_banner.router,
    roles.router,
    staff_inbound.router,
    staff_jobs.router,
]

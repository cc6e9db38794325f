"""The console's home page, the dashboard, and the live counts its progress bars poll."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from newsletter import dashboard_figures, incidents
from newsletter.delivery.progress import delivery_counts, list_sends
from newsletter.inbound import reports
from newsletter.models import DeliveryStatus, SendStatus, utcnow
from newsletter.observability.status import live_problems
from newsletter.send_lookup import statuses_of
from newsletter.web import charts
from newsletter.web.auth import STAFF_ONLY
from newsletter.web.deps import MAX_ID, db_session
from newsletter.web.templating import render

router = APIRouter(prefix="/staff", include_in_schema=False, dependencies=STAFF_ONLY)

LIVE = (SendStatus.SCHEDULED, SendStatus.SENDING)


@router.get("", response_class=HTMLResponse)
def dashboard_page(request: Request, session: Session = Depends(db_session)) -> Response:
    figures = dashboard_figures.for_dashboard(session)
    sent, growth = figures.sent, figures.growth
    sends = list_sends(session, limit=12)
    context = {
        "sends": sends,
        "live": any(s.status in LIVE for s in sends),
        "sent": sent,
        "chart": charts.stacked_bars(
            sent.days, sent.series, f"Emails sent per day over {len(sent.days)} days"
        ),
        "colours": [charts.colour(i) for i in range(len(sent.series))],
        "growth": growth,
        "sparks": {g.slug: charts.sparkline(g.weekly, f"{g.name}: {g.now} now") for g in growth},
        "members": figures.members,
        "blocks": reports.policy_blocks(session),
        "complaint_levels": reports.recent_complaint_levels(
            session, {s.id: s.counts[DeliveryStatus.SENT.value] for s in sends if s.id}
        ),
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
    statuses = statuses_of(session, ids)
    return JSONResponse(
        {
            str(send_id): {"status": statuses[send_id].value, "counts": counts[send_id]}
            for send_id in ids
            if send_id in statuses
        }
    )

"""The progress page of a console job (a large import a worker is doing): its creator or an
admin may see it; it reloads itself until the job is done."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from newsletter import background_jobs, dispatch
from newsletter.models import Job, JobStatus, StaffRole, StaffUser
from newsletter.web.auth import STAFF_ONLY, actor
from newsletter.web.deps import Id, db_session
from newsletter.web.templating import render

router = APIRouter(prefix="/staff/jobs", include_in_schema=False, dependencies=STAFF_ONLY)
RELOAD_SECONDS = 2


def start_job(
    session: Session,
    request: Request,
    background: BackgroundTasks,
    kind: str,
    payload: str,
    options: dict[str, object],
) -> Response:
    """Store the work, answer with its progress page, and queue it after the response."""
    me: StaffUser = request.state.staff
    job = background_jobs.start(session, kind, payload, dict(options), actor(me))
    session.commit()
    background.add_task(dispatch.job_queued, job.id)
    return RedirectResponse(f"/staff/jobs/{job.id}", status_code=303)


@router.get("/{job_id}", response_class=HTMLResponse)
def job_page(job_id: Id, request: Request, session: Session = Depends(db_session)) -> Response:
    me: StaffUser = request.state.staff
    job = session.get(Job, job_id)
    if job is None or (me.role is not StaffRole.ADMIN and job.created_by != actor(me)):
        raise HTTPException(404, "There is no such job.")
    waiting = job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
    if job.status is JobStatus.DONE and job.kind == background_jobs.ARTICLE_IMPORT:
        article_url = f"/staff/articles/{job.result['article_id']}"
        return RedirectResponse(f"{article_url}?notice={job.result['notice']}", 303)
    context = {
        "job": job,
        "waiting": waiting,
        "reload": RELOAD_SECONDS if waiting else None,
        "hint": dispatch.worker_hint() if job.status is JobStatus.QUEUED else None,
    }
    return render(request, "staff/job.html", context)

"""Work a worker does after the response: a large members CSV or article file from the console
(its page shows the progress), and the public forms' requests (public_requests). The request
only stores the input in a Job row and answers at once: parsing tens of thousands of rows in a
web thread held the site for minutes, and mail sent in the request showed who is a member
(issue 16).

`start` (in the caller's transaction) then `dispatch.job_queued` after the commit; a worker
calls `run` (a job that never reached one is handed over again by the recovery sweep).
The page reads `Job.status`, `done` of `total` and, when done, `result`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import public_requests
from newsletter.articles import store
from newsletter.db import session_scope
from newsletter.member_csv import CsvFormatError
from newsletter.member_import import ImportReport, import_members, import_summary
from newsletter.models import Job, JobStatus, utcnow

log = logging.getLogger(__name__)

MEMBER_IMPORT = "member-import"
ARTICLE_IMPORT = "article-import"
# Input larger than this goes to a worker: ~1,500 CSV rows, or a long saved web page.
BACKGROUND_CHARS = 100_000
# What a job's result keeps of a report's lines (the page lists them).
MAX_LISTED = 1000
# A job still queued this long after it was made was never handed to a worker (a broker that
# was down after the response): the recovery sweep hands it over again.
REQUEUE_AFTER = timedelta(minutes=5)


class JobError(ValueError):
    """The input cannot be done (the message says why); the job is marked failed with it."""


def runs_in_background(text: str) -> bool:
    return len(text) > BACKGROUND_CHARS


def start(session: Session, kind: str, payload: str, options: dict[str, Any], actor: str) -> Job:
    """A queued job holding its input; hand it to a worker once the caller has committed."""
    if kind not in RUNNERS:
        raise ValueError(f"unknown kind of job {kind!r}")
    total = payload.count("\n") if kind == MEMBER_IMPORT else 1
    job = Job(kind=kind, payload=payload, options=options, created_by=actor, total=total)
    session.add(job)
    session.flush()
    return job


def stale(session: Session, now: datetime) -> list[int]:
    """Jobs queued before now - REQUEUE_AFTER: lost on their way to a worker."""
    waiting = (Job.status == JobStatus.QUEUED) & (Job.created_at < now - REQUEUE_AFTER)
    return list(session.scalars(select(Job.id).where(waiting).order_by(Job.id)))


def run(job_id: int) -> None:
    """Do a queued job (a worker's task); a job already started or done is left alone."""
    with session_scope() as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None or job.status is not JobStatus.QUEUED:
            return
        job.status, job.started_at = JobStatus.RUNNING, utcnow()
        kind, payload, options, actor = job.kind, job.payload, dict(job.options), job.created_by
    try:
        with session_scope() as session:
            result = RUNNERS[kind](session, job_id, payload, options, actor)
    except (JobError, CsvFormatError, store.ArticleError) as exc:
        _finish(job_id, JobStatus.FAILED, {}, str(exc))
        return
    except Exception:
        log.exception("job %s (%s) failed", job_id, kind)
        _finish(job_id, JobStatus.FAILED, {}, "an unexpected error; the worker's log has it")
        raise
    _finish(job_id, JobStatus.DONE, result, "")


def _finish(job_id: int, status: JobStatus, result: dict[str, Any], error: str) -> None:
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is None:
            return
        if job.kind in FORGOTTEN_WHEN_DONE and status is JobStatus.DONE:
            session.delete(job)  # a visitor's address, with nothing left to show
            return
        job.status, job.result, job.error = status, result, error
        job.finished_at = utcnow()
        job.payload = ""  # the upload is not kept once it has been read
        if status is JobStatus.DONE:
            job.done = job.total


def _import_members(
    session: Session, job_id: int, text: str, options: dict[str, Any], actor: str
) -> dict[str, Any]:
    def progress(done: int) -> None:
        job = session.get(Job, job_id)
        if job is not None:
            job.done = done

    report = import_members(
        session,
        text,
        partial=bool(options.get("partial")),
        actor=actor,
        consent_basis=str(options.get("consent", "")),
        progress=progress,
    )
    return member_import_result(report)


def member_import_result(report: ImportReport) -> dict[str, Any]:
    """What the progress page shows of a finished import."""
    return {
        "written": report.written,
        "summary": import_summary(report),
        "errors": [{"line": e.line, "reason": e.reason} for e in report.errors[:MAX_LISTED]],
        "kept": [
            {"line": k.line, "email": k.email, "message": k.message}
            for k in report.kept[:MAX_LISTED]
        ],
        "error_count": len(report.errors),
    }


def _import_article(
    session: Session, job_id: int, text: str, options: dict[str, Any], actor: str
) -> dict[str, Any]:
    outcome = store.import_article(
        session,
        text,
        filename=str(options.get("filename", "")),
        source=str(options.get("source", "")),
        breaking=bool(options.get("breaking")),
        publish=bool(options.get("publish")),
        actor=actor,
    )
    session.commit()
    notice = "published" if outcome.published else "imported" if outcome.created else "again"
    return {"article_id": outcome.article.id, "notice": notice, "title": outcome.article.title}


def _member_request(kind: str) -> Runner:
    def run_request(
        session: Session, _job_id: int, email: str, details: dict[str, Any], _actor: str
    ) -> dict[str, Any]:
        return public_requests.carry_out(session, kind, email, details)

    return run_request


Runner = Callable[[Session, int, str, dict[str, Any], str], dict[str, Any]]
RUNNERS: dict[str, Runner] = {
    MEMBER_IMPORT: _import_members,
    ARTICLE_IMPORT: _import_article,
    public_requests.SUBSCRIBE: _member_request(public_requests.SUBSCRIBE),
    public_requests.MANAGE_LINK: _member_request(public_requests.MANAGE_LINK),
}
FORGOTTEN_WHEN_DONE = {public_requests.SUBSCRIBE, public_requests.MANAGE_LINK}

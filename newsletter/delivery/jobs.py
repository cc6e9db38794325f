"""The units of work that the task layer, beat and the CLI run.

Each opens one transaction for its service and registers the hand-over of the new deliveries
to `newsletter.dispatch` for its commit (newsletter/after_commit.py: a worker must never see
rows that are not committed yet), telling the door the send's kind and paging the ids: the
queue door reads no database.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from newsletter import after_commit, dispatch
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.delivery import alerts, announcements, digests, fanout, ledger, reminders
from newsletter.models import Frequency, Send, utcnow
from newsletter.observability import metrics
from newsletter.scheduling import DIGEST_FREQUENCIES


def queue_send(send_id: int) -> int:
    """Hand every pending delivery of a committed send to the workers, a batch per task;
    returns the batches."""
    with session_scope() as session:
        send = session.get(Send, send_id)
        if send is None:
            return 0
        batches = fanout.pending_batches(session, send_id, get_settings().BATCH_SIZE)
        return dispatch.queue_batches(send_id, send.kind, batches)


def _fanned_out(send_id: int | None, recipients: int) -> None:
    """After the commit of a fan-out: planner statistics, then the batches to the workers."""
    fanout.refresh_statistics(recipients)
    if send_id is not None:
        queue_send(send_id)


def alert(article_id: int) -> alerts.FanOut:
    with session_scope() as session:
        result = alerts.fan_out_article(session, article_id)
        after_commit.call(session, _fanned_out, result.send_id, result.recipients)
    return result


def digest(frequency: Frequency, as_of: datetime | None = None) -> digests.DigestRun:
    with session_scope() as session:
        with metrics.timed_run(f"digest_{frequency.value}"):
            run = digests.run_digest(session, frequency, as_of or utcnow(), get_settings())
        after_commit.call(session, _fanned_out, run.send_id, run.recipients)
    return run


def due_digests(as_of: datetime | None = None) -> list[digests.DigestRun]:
    """Make each digest whose time has come and that is not made yet (beat asks every minute)."""
    now = as_of or utcnow()
    runs = []
    for frequency in DIGEST_FREQUENCIES:
        with session_scope() as session:
            due = digests.due_digest(session, frequency, now, get_settings())
        if due is not None:
            runs.append(digest(frequency, due))
    return runs


def reminders_due(as_of: datetime | None = None) -> list[reminders.ReminderRun]:
    with session_scope() as session:
        with metrics.timed_run("reminders"):
            runs = reminders.run_reminders(session, as_of or utcnow(), get_settings())
        for run in runs:
            after_commit.call(session, queue_send, run.send_id)
    return runs


def due_sends(now: datetime | None = None) -> announcements.DueSends:
    grace = timedelta(minutes=get_settings().SCHEDULE_GRACE_MINUTES)
    with session_scope() as session:
        with metrics.timed_run("scheduled_sends"):
            due = announcements.start_due_sends(session, now or utcnow(), grace)
        for send_id in due.started:
            after_commit.call(session, queue_send, send_id)
    return due


def retry(send_id: int, actor: str) -> announcements.Retried:
    with session_scope() as session:
        retried = announcements.retry_send(session, send_id, actor)
        after_commit.call(session, queue_send, send_id)
    return retried


def sweep(now: datetime | None = None) -> dict[int, list[int]]:
    """Apply members' requests kept while the database was unavailable, re-queue lost and
    due work (deliveries, the fan-out of alerts never made, and console or form jobs that never
    reached a worker), then mark finished sends."""
    from newsletter import background_jobs, member_requests

    member_requests.apply_kept()
    now = now or utcnow()
    settings = get_settings()
    with session_scope() as session:
        with metrics.timed_run("recovery_sweep"):
            queued = ledger.recover(session, now, settings)
            kinds = ledger.send_kinds(session, queued)
            lost_after = timedelta(seconds=settings.REQUEUE_PENDING_AFTER_SECONDS)
            articles = alerts.lost_fan_outs(session, now, lost_after)
        for send_id, ids in queued.items():
            after_commit.call(session, dispatch.queue_deliveries, send_id, kinds[send_id], ids)
        for article_id in articles:
            after_commit.call(session, dispatch.article_published, article_id)
    with session_scope() as session:
        ledger.complete_sends(session, now)
        for job_id in background_jobs.stale(session, now):
            after_commit.call(session, dispatch.job_queued, job_id)
    return queued

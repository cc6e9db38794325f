"""The units of work that the task layer, beat and the CLI run.

Each opens one transaction for its service and registers the hand-over of the new deliveries
to `newsletter.dispatch` for its commit (newsletter/after_commit.py: a worker must never see
rows that are not committed yet), telling the door the send's kind and paging the ids: the
queue door reads no database. A fan-out (an alert, a digest run) commits, and so hands over,
a chunk of rows at a time (`committing`, ADR 0023).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from newsletter import after_commit, dispatch
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.delivery import (
    alerts,
    announcements,
    digests,
    fanout,
    ledger,
    reminders,
    streaming,
)
from newsletter.models import Frequency, Send, SendKind, utcnow
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


def committing(session: Session, kind: SendKind) -> streaming.Committed:
    """A streamed fan-out's commits: each chunk is committed, then its rows are queued; once
    the fan-out has written enough rows to matter, PostgreSQL's planner statistics too."""
    written = 0

    def commit(send_id: int, delivery_ids: list[int]) -> None:
        nonlocal written
        if delivery_ids:
            after_commit.call(session, dispatch.queue_deliveries, send_id, kind, delivery_ids)
        if written < fanout.BIG_FANOUT <= written + len(delivery_ids):
            after_commit.call(session, fanout.refresh_statistics, written + len(delivery_ids))
        written += len(delivery_ids)
        session.commit()

    return commit


def alert(article_id: int) -> alerts.FanOut:
    with session_scope() as session:
        result = alerts.fan_out_article(
            session, article_id, committed=committing(session, SendKind.ALERT)
        )
        if result.send_id is not None:
            after_commit.call(session, fanout.refresh_statistics, result.recipients)
        if result.send_id is not None and not (result.created or result.resumed):
            # Published again: queue what its alert has not sent yet (a lost batch).
            after_commit.call(session, queue_send, result.send_id)
    return result


def digest(frequency: Frequency, as_of: datetime | None = None) -> digests.DigestRun:
    with session_scope() as session:
        with metrics.timed_run(f"digest_{frequency.value}"):
            run = digests.run_digest(
                session,
                frequency,
                as_of or utcnow(),
                get_settings(),
                committing(session, SendKind.DIGEST),
            )
        after_commit.call(session, fanout.refresh_statistics, run.recipients)
    return run


def digest_task(frequency: str, as_of: str | None = None) -> digests.DigestRun:
    """`digest` with its arguments as a task carries them (the recovery sweep queues one to go
    on with a run that stopped half way)."""
    return digest(Frequency(frequency), datetime.fromisoformat(as_of) if as_of else None)


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
        go_on_with_fan_out(session, send_id)
    return retried


def go_on_with_fan_out(session: Session, send_id: int) -> None:
    """A send whose fan-out stopped half way (its command was interrupted, its process died):
    the run that made it goes on after the last member written, as the sweep would once
    FANOUT_STALLED_SECONDS had passed, so a retried send can finish."""
    send = session.get(Send, send_id)
    if send is None or send.fanout_progress_at is None:
        return
    if send.kind == SendKind.ALERT and send.article_id is not None:
        after_commit.call(session, dispatch.article_published, send.article_id)
    run = digests.run_of(send) if send.kind == SendKind.DIGEST else None
    if run is not None:
        after_commit.call(session, dispatch.digest_stopped, run[0].value, run[1])


def sweep(now: datetime | None = None) -> dict[int, list[int]]:
    """Apply members' requests kept while the database was unavailable, re-queue lost and
    due work (deliveries, the fan-out of alerts never made, fan-outs of alerts and digest runs
    that stopped half way, and console or form jobs that never reached a worker), then mark
    finished sends."""
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
            stalled_since = now - timedelta(seconds=settings.FANOUT_STALLED_SECONDS)
            articles += alerts.stalled_fan_outs(session, stalled_since)
            runs = digests.stalled_runs(session, stalled_since)
        for send_id, ids in queued.items():
            after_commit.call(session, dispatch.queue_deliveries, send_id, kinds[send_id], ids)
        for article_id in articles:
            after_commit.call(session, dispatch.article_published, article_id)
        for frequency, as_of in runs:
            after_commit.call(session, dispatch.digest_stopped, frequency.value, as_of)
    with session_scope() as session:
        ledger.complete_sends(session, now)
        for job_id in background_jobs.stale(session, now):
            after_commit.call(session, dispatch.job_queued, job_id)
    return queued

"""Celery tasks: thin wrappers that take ids and call one function in `newsletter`.

Every task is safe to run twice: the ledger's conditional updates and the sends' idempotency
keys, not the broker, decide what is sent. That is also why a fan-out, a batch or a digest
that found the database unreachable (a restart, a failover) is simply run again a little later,
backing off up to a minute between tries for about a quarter of an hour, instead of failing:
otherwise a batch would wait for the recovery sweep, and a fan-out or a day's digest would
not happen at all. Beat's periodic checks need no retry: the next check does the work.

The checks take an optional `as_of` (ISO 8601), like a digest run, to do the work due at
that moment rather than now. It is the caller's clock (beat's, or a fast one in tests/faults),
so it is not held to this machine's; a person's `--as-of` still to come is refused by the CLI.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import OperationalError

from newsletter import background_jobs, consent, member_mail
from newsletter.db import session_scope
from newsletter.delivery import jobs
from newsletter.delivery.batches import run_batch
from newsletter.observability.logs import log_context
from workers.celery_app import app

WHEN_THE_DATABASE_IS_BACK = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 20,
}


@app.task(name="newsletter.fan_out_article", **WHEN_THE_DATABASE_IS_BACK)
def fan_out_article(article_id: int) -> None:
    jobs.alert(article_id)


@app.task(name="newsletter.deliver_batch", **WHEN_THE_DATABASE_IS_BACK)
def deliver_batch(send_id: int, delivery_ids: list[int]) -> None:
    with log_context(send_id=send_id):
        run_batch(send_id, delivery_ids)


@app.task(name="newsletter.deliver_member_mail", **WHEN_THE_DATABASE_IS_BACK)
def deliver_member_mail(send_id: int, delivery_ids: list[int]) -> None:
    member_mail.run_batch(send_id, delivery_ids)


@app.task(name="newsletter.run_digest", **WHEN_THE_DATABASE_IS_BACK)
def run_digest(frequency: str, as_of: str | None = None) -> None:
    jobs.digest_task(frequency, as_of)


@app.task(name="newsletter.run_due_digests")
def run_due_digests(as_of: str | None = None) -> None:
    jobs.due_digests(_moment(as_of))


@app.task(name="newsletter.run_reminders")
def run_reminders(as_of: str | None = None) -> None:
    jobs.reminders_due(_moment(as_of))


@app.task(name="newsletter.start_due_sends")
def start_due_sends(as_of: str | None = None) -> None:
    jobs.due_sends(_moment(as_of))


@app.task(name="newsletter.chase_acknowledgements")
def chase_acknowledgements(as_of: str | None = None) -> None:
    from newsletter.delivery import chases

    chases.chase_due(_moment(as_of))


@app.task(name="newsletter.end_pauses")
def end_pauses(as_of: str | None = None) -> None:
    with session_scope() as session:
        consent.end_pauses(session, _moment(as_of))


@app.task(name="newsletter.recovery_sweep")
def recovery_sweep() -> None:
    jobs.sweep()


@app.task(name="newsletter.send_password_reset", **WHEN_THE_DATABASE_IS_BACK)
def send_password_reset(email: str) -> None:
    from newsletter import password_reset

    password_reset.send_link(email)


@app.task(name="newsletter.run_job", **WHEN_THE_DATABASE_IS_BACK)
def run_job(job_id: int) -> None:
    background_jobs.run(job_id)


@app.task(name="newsletter.poll_inbound")
def poll_inbound() -> None:
    from newsletter.config import get_settings
    from newsletter.inbound.receive_imap import poll_configured

    poll_configured(get_settings())


def _moment(as_of: str | None) -> datetime | None:
    return datetime.fromisoformat(as_of) if as_of else None

"""Celery tasks: thin wrappers that take ids and call one function in `newsletter`.

Every task is safe to run twice: the ledger's conditional updates and the sends' idempotency
keys, not the broker, decide what is sent.
"""

from __future__ import annotations

from datetime import datetime

from newsletter.delivery import jobs
from newsletter.models import Frequency
from workers.celery_app import app


@app.task(name="newsletter.fan_out_article")
def fan_out_article(article_id: int) -> None:
    jobs.alert(article_id)


@app.task(name="newsletter.deliver_batch")
def deliver_batch(send_id: int, delivery_ids: list[int]) -> None:
    jobs.deliver(send_id, delivery_ids)


@app.task(name="newsletter.run_digest")
def run_digest(frequency: str, as_of: str | None = None) -> None:
    jobs.digest(Frequency(frequency), datetime.fromisoformat(as_of) if as_of else None)


@app.task(name="newsletter.run_reminders")
def run_reminders() -> None:
    jobs.reminders_due()


@app.task(name="newsletter.start_due_sends")
def start_due_sends() -> None:
    jobs.due_sends()


@app.task(name="newsletter.recovery_sweep")
def recovery_sweep() -> None:
    jobs.sweep()

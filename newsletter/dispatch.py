"""The one door from the services to the task queue.

Services call these after their transaction commits; only here does `newsletter` reach into
`workers`, and lazily, so every service can be used and tested without a broker. Inside
`with inline():` the work runs in this process instead (the CLI's --inline, demos, tests).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import select

from newsletter.config import EMBEDDED_BROKER, get_settings
from newsletter.db import session_scope
from newsletter.models import Send, SendKind

# The task queues: urgent (alert batches), fanout, send (other batches), schedule (beat's checks).
QUEUES = ("urgent", "fanout", "send", "schedule")

_inline: ContextVar[bool] = ContextVar("newsletter_dispatch_inline", default=False)


@contextmanager
def inline() -> Iterator[None]:
    """Run queued work here and now, without a broker or a worker."""
    token = _inline.set(True)
    try:
        yield
    finally:
        _inline.reset(token)


def is_inline() -> bool:
    return _inline.get()


def _enqueue(task: str, args: list[object], queue: str) -> None:
    from workers.celery_app import producer

    producer().send_task(task, args=args, queue=queue)


def article_published(article_id: int) -> None:
    """An article has just been published: fan its alert out to the audience."""
    if is_inline():
        from newsletter.delivery import jobs

        jobs.alert(article_id)
    else:
        _enqueue("newsletter.fan_out_article", [article_id], "fanout")


def member_mail(send_id: int, delivery_ids: Sequence[int]) -> None:
    """Members' own emails just committed (newsletter.member_mail): a task per BATCH_SIZE rows,
    on the urgent queue, since the member is waiting for them."""
    size = get_settings().BATCH_SIZE
    for start in range(0, len(delivery_ids), size):
        ids = list(delivery_ids[start : start + size])
        if is_inline():
            from newsletter import member_mail as mail

            mail.deliver(send_id, ids)
        else:
            _enqueue("newsletter.deliver_member_mail", [send_id, ids], "urgent")


def queue_send(send_id: int) -> int:
    """Hand every pending delivery of a send to the workers, a batch per task; returns batches."""
    from newsletter.delivery.fanout import pending_batches

    size = get_settings().BATCH_SIZE
    count = 0
    with session_scope() as session:
        kind = session.scalar(select(Send.kind).where(Send.id == send_id))
        for ids in pending_batches(session, send_id, size):
            _deliver(send_id, ids, kind)
            count += 1
    return count


def queue_deliveries(send_id: int, delivery_ids: Sequence[int]) -> None:
    """Hand these deliveries (of one send) to the workers again, e.g. after recovery."""
    size = get_settings().BATCH_SIZE
    with session_scope() as session:
        kind = session.scalar(select(Send.kind).where(Send.id == send_id))
    for start in range(0, len(delivery_ids), size):
        _deliver(send_id, list(delivery_ids[start : start + size]), kind)


def _deliver(send_id: int, ids: list[int], kind: SendKind | None) -> None:
    if kind == SendKind.MEMBER_MAIL:
        member_mail(send_id, ids)
    elif is_inline():
        from newsletter.delivery.deliver import deliver_batch

        deliver_batch(send_id, ids, release_on_error=True)
    else:
        urgent = kind == SendKind.ALERT
        _enqueue("newsletter.deliver_batch", [send_id, ids], "urgent" if urgent else "send")


def password_reset_requested(email: str) -> None:
    """Someone asked for a password-reset link for this address: a worker sends it, if the
    address is a staff account's (the web app calls this after its response)."""
    if is_inline():
        from newsletter import password_reset

        password_reset.send_link(email)
    else:
        _enqueue("newsletter.send_password_reset", [email], "urgent")


def job_queued(job_id: int) -> None:
    """A console job (a large import) was committed: a worker does it while its page waits."""
    if is_inline():
        from newsletter import background_jobs

        background_jobs.run(job_id)
    else:
        _enqueue("newsletter.run_job", [job_id], "fanout")


def worker_running() -> bool:
    from workers.celery_app import worker_running as running

    return running(get_settings())


def worker_hint() -> str | None:
    """What to tell someone whose work was queued while no worker is there to do it."""
    settings = get_settings()
    if is_inline() or settings.BROKER_URL != EMBEDDED_BROKER or worker_running():
        return None
    return (
        "no worker is running: the work is queued and will be done once you start "
        "`newsletter worker` (or run the command again with --inline)"
    )


def ping_workers() -> list[str]:
    """Node names of the workers answering Celery's ping (Redis only: the embedded broker has
    no broadcast)."""
    if get_settings().BROKER_URL == EMBEDDED_BROKER:
        return []
    from workers.celery_app import producer

    replies = producer().control.ping(timeout=1.0) or []
    return sorted(name for reply in replies for name in reply)

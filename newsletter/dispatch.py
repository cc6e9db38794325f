"""The one door from the services to the task queue.

Services call these after their transaction commits, with everything the task needs (ids, and
the send's kind to choose its queue): this module reads no database and knows no unit of work.
Only here does `newsletter` reach into `workers`, and lazily, so every service can be used and
tested without a broker. Inside `newsletter.inline.inline()` the tasks run in this process
instead (the CLI's --inline, demos, tests): that module gives this one the function to call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from newsletter.config import EMBEDDED_BROKER, get_settings
from newsletter.models import SendKind

# The task queues: urgent (alert batches), fanout, send (other batches), schedule (beat's checks).
QUEUES = ("urgent", "fanout", "send", "schedule")

# Runs a task, by its registered name, in this process; None: tasks go to the broker.
RunHere = Callable[[str, list[object]], None]
_run_here: ContextVar[RunHere | None] = ContextVar("newsletter_dispatch_run_here", default=None)


@contextmanager
def running_here(run: RunHere) -> Iterator[None]:
    """Within the block, `run` does each task instead of a worker (see newsletter.inline)."""
    token = _run_here.set(run)
    try:
        yield
    finally:
        _run_here.reset(token)


def is_inline() -> bool:
    return _run_here.get() is not None


def _enqueue(task: str, args: list[object], queue: str) -> None:
    run = _run_here.get()
    if run is not None:
        run(task, args)
        return
    from workers.celery_app import producer

    producer().send_task(task, args=args, queue=queue)


def article_published(article_id: int) -> None:
    """An article has just been published: fan its alert out to the audience."""
    _enqueue("newsletter.fan_out_article", [article_id], "fanout")


def digest_stopped(frequency: str, as_of: datetime) -> None:
    """A digest run stopped half way: run it again, as of when it was made, to finish it."""
    _enqueue("newsletter.run_digest", [frequency, as_of.isoformat()], "fanout")


def member_mail(send_id: int, delivery_ids: Sequence[int]) -> None:
    """Members' own emails just committed (newsletter.member_mail): a task per BATCH_SIZE rows,
    on the urgent queue, since the member is waiting for them."""
    for ids in _slices(delivery_ids):
        _enqueue("newsletter.deliver_member_mail", [send_id, ids], "urgent")


def queue_batches(send_id: int, kind: SendKind, batches: Iterable[Sequence[int]]) -> int:
    """Hand a send's deliveries to the workers, a task per batch of ids; returns the batches.
    `batches` may be read from the database as they are queued (fanout.pending_batches)."""
    count = 0
    for ids in batches:
        _queue_batch(send_id, kind, list(ids))
        count += 1
    return count


def queue_deliveries(send_id: int, kind: SendKind, delivery_ids: Sequence[int]) -> None:
    """Hand these deliveries (of one send) to the workers again, e.g. after recovery."""
    queue_batches(send_id, kind, _slices(delivery_ids))


def _slices(ids: Sequence[int]) -> Iterator[list[int]]:
    size = get_settings().BATCH_SIZE
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def _queue_batch(send_id: int, kind: SendKind, ids: list[int]) -> None:
    if kind == SendKind.MEMBER_MAIL:
        member_mail(send_id, ids)
    else:
        queue = "urgent" if kind == SendKind.ALERT else "send"
        _enqueue("newsletter.deliver_batch", [send_id, ids], queue)


def password_reset_requested(email: str) -> None:
    """Someone asked for a password-reset link for this address: a worker sends it, if the
    address is a staff account's (the web app calls this after its response)."""
    _enqueue("newsletter.send_password_reset", [email], "urgent")


def job_queued(job_id: int) -> None:
    """A console job (a large import) was committed: a worker does it while its page waits."""
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

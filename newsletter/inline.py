"""Run queued work in this process, without a broker or a worker (the CLI's --inline, the
demo, tests): within `inline()`, each task `newsletter.dispatch` would queue is done at once,
by the function its Celery task in `workers/tasks.py` wraps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from newsletter import dispatch


@contextmanager
def inline() -> Iterator[None]:
    """Run queued work here and now, without a broker or a worker."""
    with dispatch.running_here(_run):
        yield


def _run(task: str, args: list[Any]) -> None:
    _tasks()[task](*args)


def _tasks() -> dict[str, Callable[..., object]]:
    # Imported when a task first runs: the CLI starts without the delivery code.
    from newsletter import background_jobs, member_mail, password_reset
    from newsletter.delivery import jobs
    from newsletter.delivery.batches import run_batch

    return {
        "newsletter.fan_out_article": jobs.alert,
        "newsletter.run_digest": jobs.digest_task,
        # A command sending inline has no sweep of its own: rows it claimed and could not
        # finish go back to `deferred` at once.
        "newsletter.deliver_batch": partial(run_batch, release_on_error=True),
        "newsletter.deliver_member_mail": member_mail.run_batch,
        "newsletter.send_password_reset": password_reset.send_link,
        "newsletter.run_job": background_jobs.run,
    }

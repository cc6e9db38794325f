"""What the commands that send email share: --as-of, --inline, the checks before queueing, and
telling the user afterwards what happened or what is still to happen, and why."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import typer

from newsletter.cli.common import USAGE_ERROR, check_ready, console, fail, warn
from newsletter.config import get_settings

if TYPE_CHECKING:
    from rich.console import Console

    from newsletter.delivery.progress import SendProgress

# The functions below import the services they use: every command that sends, and `sends
# show`, import this module, and most of them need only a little of it (CLI start time).

# A send whose rows are all answered is about to be marked finished: wait this long for it.
MARKING_SECONDS = 10.0


def as_of_option() -> str | None:
    return typer.Option(
        None,
        "--as-of",
        help=(
            "Act as if it were this time, which must have passed (ISO 8601; without an "
            "offset, in the service's zone)."
        ),
    )


def inline_option() -> bool:
    return typer.Option(
        False, "--inline", help="Send from this process now, without a worker or a broker."
    )


def parse_as_of(text: str | None) -> datetime | None:
    """The --as-of time, or None for now. A time still to come is a usage error (exit 2): a
    digest run as of then would count articles not yet published as covered.

    Only a person's --as-of is held to the real clock: beat's checks are given its own clock,
    which a test may run fast (tests/faults/fast_clock.py)."""
    if text is None:
        return None
    from newsletter.models import utcnow
    from newsletter.scheduling import SchedulingError, check_passed, parse_local

    zone = get_settings().TIMEZONE
    try:
        moment = check_passed(parse_local(text, ZoneInfo(zone)), utcnow())
    except SchedulingError as exc:
        fail(f"--as-of {text}: {exc}", code=USAGE_ERROR)
    if not has_time(text):
        warn(f"--as-of {text!r} has no time of day: read as {text.strip()} 00:00 {zone}")
    return moment


def has_time(text: str) -> bool:
    """Whether a date and time as typed names a time of day ("2026-12-01" does not)."""
    return ":" in text or "T" in text.strip()[10:11]


@contextmanager
def queueing(inline: bool) -> Iterator[None]:
    """Check that the work can be queued (the broker), or with --inline sent from here (the
    email settings); then run the block, inline if asked."""
    check_ready(broker=not inline, email=inline)
    if not inline:
        yield
        return
    from newsletter.inline import inline as work_inline

    with work_inline(), _delivery_logs_left_to_the_report():
        yield


@contextmanager
def _delivery_logs_left_to_the_report() -> Iterator[None]:
    """An inline send's log lines (say "backend unavailable, deferring 1") would repeat, in a
    log's words, what `after_queueing` then tells the user; unless logging was set up, drop
    them."""
    logger = logging.getLogger("newsletter.delivery")
    if logging.getLogger().handlers or logger.handlers:
        yield
        return
    logger.addHandler(handler := logging.NullHandler())
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def local_time(moment: datetime | str | None) -> str:
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(ZoneInfo(get_settings().TIMEZONE)).strftime("%Y-%m-%d %H:%M")


def after_queueing(send_ids: Sequence[int], *, inline: bool, wait: bool = False) -> None:
    """Tell the user how the sends went (--inline, --wait), or what stands in their way: no
    worker to do the work, an SMTP server that does not answer. `send_ids` empty: the work
    was queued before its send exists (an alert's fan-out)."""
    if inline:
        for summary in _summaries(send_ids):
            say_outcome(summary)
        return
    unsettled = [s for s in _summaries(send_ids) if not _settled(s)]
    if send_ids and not unsettled:
        return
    from newsletter import dispatch
    from newsletter.preflight import smtp_problem

    problem = smtp_problem(get_settings())
    if problem:
        warn(f"{problem}; until it does, the emails are deferred and tried again later")
    hint = dispatch.worker_hint()
    if hint:
        warn(hint)
        if wait:
            warn("not waiting, as nothing would happen until a worker starts")
        return
    if wait:
        for summary in unsettled:
            assert summary.id is not None
            say_outcome(wait_for_send(summary.id, console=console))


def wait_for_send(
    send_id: int,
    *,
    timeout: float | None = None,
    poll_seconds: float = 0.5,
    console: Console | None = None,
) -> SendProgress:
    """Show a progress bar until the send settles (or `timeout`); returns its last summary."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from newsletter.db import session_scope
    from newsletter.delivery import progress

    deadline = None if timeout is None else time.monotonic() + timeout
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    marking_deadline = time.monotonic() + MARKING_SECONDS
    with Progress(*columns, console=console or Console(stderr=True), transient=False) as bar:
        task = bar.add_task(f"send {send_id}", total=None)
        while True:
            with session_scope() as session:
                summary = progress.describe_send(session, send_id)
            if summary is None:
                raise LookupError(f"there is no send {send_id}")
            bar.update(
                task,
                total=summary.recipients or None,
                completed=progress.done_count(summary),
                description=progress.caption(summary),
            )
            if deadline is not None and time.monotonic() > deadline:
                return summary
            if progress.is_settled(summary):
                # Every row answered but the send not yet marked: the worker is about to mark
                # it, so wait a moment rather than report "sending" with nothing left to send.
                if not progress.being_marked(summary) or time.monotonic() > marking_deadline:
                    return summary
            else:
                marking_deadline = time.monotonic() + MARKING_SECONDS
            time.sleep(poll_seconds)


def say_outcome(summary: SendProgress) -> None:
    """A send's counts, and why rows are deferred or failed with what to do about it."""
    send_id, counts = summary.id, summary.counts
    console.print(
        f"Send {send_id} {summary.status}: {counts['sent']} sent, "
        f"{counts['deferred']} deferred, {counts['failed']} failed.",
        highlight=False,
    )
    errors = summary.last_errors or {}
    if counts["deferred"]:
        warn(
            f"send {send_id}: {counts['deferred']} deferred ({errors.get('deferred', '')}); "
            "a worker tries them again later, or `newsletter sends retry "
            f"{send_id} --inline` tries them now"
        )
    if counts["failed"]:
        warn(
            f"send {send_id}: {counts['failed']} failed ({errors.get('failed', '')}); "
            f"`newsletter sends retry {send_id}` tries them again"
        )


def _summaries(send_ids: Sequence[int]) -> list[SendProgress]:
    from newsletter.db import session_scope
    from newsletter.delivery.progress import describe_send

    with session_scope() as session:
        found = [describe_send(session, send_id) for send_id in send_ids]
    return [summary for summary in found if summary is not None]


def _settled(summary: SendProgress) -> bool:
    from newsletter.delivery.progress import is_settled

    return is_settled(summary)

"""What the commands that queue email work share: --as-of, --inline, the worker hint, --wait."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from zoneinfo import ZoneInfo

import typer

from newsletter import dispatch
from newsletter.cli.common import console, fail, warn
from newsletter.config import get_settings
from newsletter.models import utcnow
from newsletter.scheduling import SchedulingError, check_passed, parse_local


def as_of_option() -> str | None:
    return typer.Option(
        None,
        "--as-of",
        help=(
            "Act as if it were this time, which must have passed (ISO 8601; without an "
            "offset, in the service's zone)."
        ),
    )


def parse_as_of(text: str | None) -> datetime | None:
    """The --as-of time, or None for now; a time still to come is a usage error (exit 2).

    Only a person's --as-of is held to the real clock: beat's checks are given its own clock,
    which a test may run fast (tests/faults/fast_clock.py)."""
    if text is None:
        return None
    try:
        return check_passed(parse_local(text, ZoneInfo(get_settings().TIMEZONE)), utcnow())
    except SchedulingError as exc:
        fail(f"--as-of {text}: {exc}", code=2)


def maybe_inline(inline: bool) -> AbstractContextManager[None]:
    return dispatch.inline() if inline else nullcontext()


def local_time(moment: datetime | str | None) -> str:
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(ZoneInfo(get_settings().TIMEZONE)).strftime("%Y-%m-%d %H:%M")


def after_queueing(send_id: int | None, wait: bool) -> None:
    """Say when no worker will pick the work up; otherwise wait for it if asked."""
    if send_id is not None and not _has_work(send_id):
        return
    hint = dispatch.worker_hint()
    if hint:
        warn(hint)
        if wait:
            warn("not waiting, as nothing would happen until a worker starts")
        return
    if wait and send_id is not None:
        from newsletter.delivery.progress import wait_for_send

        summary = wait_for_send(send_id, console=console)
        counts = summary["counts"]
        console.print(
            f"Send {send_id} {summary['status']}: {counts['sent']} sent, "
            f"{counts['deferred']} deferred, {counts['failed']} failed."
        )


def _has_work(send_id: int) -> bool:
    """Whether anything of the send is still to be done by a worker (or a beat)."""
    from newsletter.db import session_scope
    from newsletter.delivery.progress import describe_send, is_settled

    with session_scope() as session:
        summary = describe_send(session, send_id)
    return summary is not None and not is_settled(summary)

"""`newsletter digest run`: run a daily or weekly digest by hand (beat runs them on schedule)."""

from __future__ import annotations

import typer

from newsletter.cli.common import console, fail
from newsletter.cli.queueing import (
    after_queueing,
    as_of_option,
    inline_option,
    parse_as_of,
    queueing,
)
from newsletter.models import Frequency
from newsletter.scheduling import DIGEST_FREQUENCIES, SchedulingError

app = typer.Typer(help="Run digests by hand.", no_args_is_help=True)


@app.command("run")
def run(
    frequency: str = typer.Option(..., "--frequency", help="daily or weekly"),
    as_of: str | None = as_of_option(),
    wait: bool = typer.Option(False, "--wait", help="Show progress until the send finishes."),
    inline: bool = inline_option(),
) -> None:
    """Run the digest of the period containing --as-of (default now); a second run adds nothing."""
    from newsletter.delivery import jobs

    choices = {f.value: f for f in DIGEST_FREQUENCIES}
    if frequency not in choices:
        fail(f"unknown frequency {frequency!r} (daily or weekly)")
    try:
        moment = parse_as_of(as_of)
        with queueing(inline):
            result = jobs.digest(Frequency(frequency), moment)
    except SchedulingError as exc:
        fail(str(exc))
    if not (result.created or result.resumed):
        console.print(
            f"The {frequency} digest for {result.period} has already run (send {result.send_id}); "
            "nothing more to send."
        )
        return
    if result.resumed:
        console.print(
            f"The {frequency} digest for {result.period} (send {result.send_id}) had stopped "
            f"half way: finished it, {result.recipients} more members with something new."
        )
    else:
        console.print(
            f"{frequency.capitalize()} digest for {result.period}: send {result.send_id}, "
            f"{result.recipients} members with something new."
        )
    after_queueing([result.send_id], inline=inline, wait=wait)

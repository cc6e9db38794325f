"""`newsletter reminders run`: send the deadline reminders due now (beat checks every minute)."""

from __future__ import annotations

import typer
from rich.table import Table

from newsletter.cli.common import console, fail
from newsletter.cli.queueing import (
    after_queueing,
    as_of_option,
    inline_option,
    parse_as_of,
    queueing,
)
from newsletter.scheduling import SchedulingError

app = typer.Typer(help="Deadline reminders.", no_args_is_help=True)


@app.command("run")
def run(
    as_of: str | None = as_of_option(),
    inline: bool = inline_option(),
) -> None:
    """Create the reminders due at --as-of (default now); each is sent once."""
    from newsletter.delivery import jobs

    try:
        moment = parse_as_of(as_of)
        with queueing(inline):
            runs = jobs.reminders_due(moment)
    except SchedulingError as exc:
        fail(str(exc))
    new = [r for r in runs if r.created]
    if not new:
        console.print("No reminder is due that has not been sent already.")
        return
    table = Table("send", "deadline", "days before", "recipients")
    for r in new:
        table.add_row(str(r.send_id), str(r.deadline_id), str(r.days_before), str(r.recipients))
    console.print(table)
    after_queueing([r.send_id for r in new], inline=inline)

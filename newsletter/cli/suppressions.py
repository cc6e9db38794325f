"""`newsletter suppressions ...`: the addresses that are never emailed, and why."""

from __future__ import annotations

import typer
from rich.table import Table

from newsletter.cli.common import console, open_session, print_json

app = typer.Typer(
    help="The suppression list: addresses never emailed, and why.", no_args_is_help=True
)


@app.command("list")
def list_(
    search: str = typer.Option("", "--search", help="Only addresses containing this."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """List suppressed addresses with the reason and the evidence (newest first)."""
    from newsletter.suppressions import suppressions_with_evidence

    with open_session() as session:
        rows = suppressions_with_evidence(session, search, limit=100_000)
    if as_json:
        print_json(rows)
        return
    table = Table("email", "reason", "evidence", "added")
    for row in rows:
        email, reason, evidence = str(row["email"]), str(row["reason"]), str(row["evidence"])
        table.add_row(email, reason, evidence[:100], str(row["created_at"])[:19])
    console.print(table)

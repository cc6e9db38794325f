"""`newsletter calendar ...`: each region's school terms, whose holidays pause digests."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from newsletter.cli.common import USAGE_ERROR, console, fail, open_session, print_json

app = typer.Typer(help="School term dates per region (their holidays pause digests).")


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="An iCalendar (.ics) or CSV (name,starts,ends) file."),
    region: str = typer.Option("england", "--region", help="Whose terms: england, wales..."),
) -> None:
    """Add a region's terms from a file: every term, or none when one is wrong."""
    from newsletter import audit, school_calendar
    from newsletter.term_dates import TermError, read_terms

    try:
        terms = read_terms(file.name, file.read_bytes())
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}", code=USAGE_ERROR)
    except TermError as exc:
        fail(f"{file.name}: {exc}; nothing imported", code=USAGE_ERROR)
    try:
        with open_session() as session:
            done = school_calendar.import_terms(session, region, terms, audit.cli_actor())
    except TermError as exc:
        fail(f"{file.name}: {exc}; nothing imported", code=USAGE_ERROR)
    console.print(
        f"{done.region}: {done.added} terms added, {done.unchanged} already kept.",
        highlight=False,
    )


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """Every region's terms."""
    from newsletter import school_calendar

    with open_session() as session:
        rows = [
            {"region": region, "name": t.name, "starts": str(t.starts), "ends": str(t.ends)}
            for region, terms in school_calendar.terms_by_region(session).items()
            for t in terms
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("region", "term", "first day", "last day")
    for row in rows:
        table.add_row(row["region"], row["name"], row["starts"], row["ends"])
    console.print(table)

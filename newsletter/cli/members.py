"""`newsletter members ...`: add, list, import and export members."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from newsletter.cli.common import (
    console,
    errors,
    fail,
    open_session,
    print_json,
    write_text_file,
)
from newsletter.member_csv import CsvFormatError, export_members, import_members, read_file
from newsletter.members import (
    MemberError,
    format_topic_choices,
    list_members,
    parse_topic_choices,
    upsert_member,
)
from newsletter.topics import topics_by_slug

app = typer.Typer(help="Add, list, import and export members.", no_args_is_help=True)


@app.command()
def add(
    email: str,
    name: str = typer.Option("", "--name"),
    role: str = typer.Option("", "--role", help="e.g. SENCO, phase leader, subject leader"),
    topic: list[str] = typer.Option(
        [],
        "--topic",
        help="SLUG:FREQUENCY, e.g. funding:immediate (SLUG=FREQUENCY too; repeatable)",
    ),
) -> None:
    """Add a member (active at once) or update one, with their topics."""
    with open_session() as session:
        try:
            choices = parse_topic_choices(topic, set(topics_by_slug(session)))
            done = upsert_member(session, email, name, role, choices if topic else None)
        except MemberError as exc:
            fail(str(exc))
        console.print(f"{'Added' if done.created else 'Updated'} member {done.member.email}.")
        for kept in done.kept:
            console.print(kept.message(), highlight=False)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """List members with their subscriptions."""
    with open_session() as session:
        members = list_members(session)
    if as_json:
        print_json(members)
        return
    table = Table("email", "name", "role", "status", "subscriptions")
    for m in members:
        subs = format_topic_choices(m["subscriptions"]).replace(";", ", ")
        table.add_row(m["email"], m["name"], m["role"], m["status"], subs)
    console.print(table)
    console.print(f"{len(members)} members")


@app.command("import")
def import_(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    partial: bool = typer.Option(
        False, "--partial", help="Write the good rows even when some are bad."
    ),
) -> None:
    """Import members from CSV (email,name,role,topics); all-or-nothing unless --partial."""
    try:
        text = read_file(file)
    except CsvFormatError as exc:
        fail(str(exc))
    with open_session() as session:
        try:
            report = import_members(session, text, partial=partial)
        except CsvFormatError as exc:
            fail(f"{file}: {exc}")
    for error in report.errors:
        errors.print(
            f"[red]{escape(str(file))}:{error.line}:[/] {escape(error.reason)}", highlight=False
        )
    if report.written:
        console.print(
            f"Imported {len(report.rows)} rows: {report.created} new, "
            f"{report.updated} updated; {len(report.errors)} bad rows skipped."
        )
    else:
        fail(
            f"{len(report.errors)} bad rows; nothing was written (use --partial to write the rest)"
        )
    if report.errors:
        raise typer.Exit(1)


@app.command()
def export(file: Path = typer.Argument(..., dir_okay=False)) -> None:
    """Export all members to CSV, in the columns that import reads."""
    with open_session() as session:
        text = export_members(session)
    write_text_file(file, text)
    console.print(f"Wrote {text.count(chr(10)) - 1} members to {file}.", highlight=False)

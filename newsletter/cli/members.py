"""`newsletter members ...`: add, show, list, import and export members."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from newsletter import audit
from newsletter.cli.common import (
    console,
    errors,
    fail,
    open_session,
    print_json,
    write_text_file,
)
from newsletter.consent import Change
from newsletter.member_csv import CsvFormatError, read_file, write_rows
from newsletter.member_export import export_rows
from newsletter.member_import import import_members, import_summary
from newsletter.members import (
    MemberError,
    describe_member,
    find_member,
    format_topic_choices,
    list_members,
    normalise_email,
    parse_topic_choices,
    upsert_member,
)
from newsletter.models import ConsentSource
from newsletter.topics import topics_by_slug

app = typer.Typer(help="Add, show, list, import and export members.", no_args_is_help=True)


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
    consent_text: str = typer.Option(
        "", "--consent", help='Where their consent comes from, e.g. "asked at the conference".'
    ),
) -> None:
    """Add a member (active at once) or update one, with their topics."""
    change = Change(ConsentSource.CONSOLE, audit.cli_actor(), reason=consent_text.strip())
    with open_session() as session:
        try:
            choices = parse_topic_choices(topic, set(topics_by_slug(session)))
            done = upsert_member(
                session, email, name, role, choices if topic else None, change=change
            )
        except MemberError as exc:
            fail(str(exc))
        console.print(f"{'Added' if done.created else 'Updated'} member {done.member.email}.")
        for kept in done.kept:
            console.print(kept.message(), highlight=False)


@app.command()
def show(
    email: str,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Show a member: their choices, opt-outs, consent and the record of every change."""
    with open_session() as session:
        try:
            member = find_member(session, normalise_email(email))
        except MemberError as exc:
            fail(str(exc), 2)
        if member is None:
            fail(f"there is no member {email!r}")
        facts = describe_member(session, member)
    if as_json:
        print_json(facts)
        return
    _print_member(facts)


def _print_member(facts: dict[str, Any]) -> None:
    """The member as text; what members and staff typed is escaped, never read as markup."""
    paused = ""
    if facts["paused"]:
        paused = (
            f" (paused until {facts['paused_until']})" if facts["paused_until"] else " (paused)"
        )
    say = console.print
    say(f"[bold]{escape(facts['email'])}[/] {escape(facts['name'])} {escape(facts['role'])}")
    say(f"status: {facts['status']}{paused}", highlight=False)
    if facts["consent"]["basis"]:
        basis, at = escape(facts["consent"]["basis"]), facts["consent"]["at"]
        say(f"consent: {basis} ({at})", highlight=False)
    subs = format_topic_choices(facts["subscriptions"]).replace(";", ", ")
    say(f"subscriptions: {subs or 'none'}", highlight=False)
    for out in facts["opted_out"]:
        what = out["topic"] or "the whole list"
        say(f"opted out of {what} on {out['at']} via {out['source']}", highlight=False)
    table = Table("time", "what", "change", "source", "actor", "reason", title="Consent record")
    for event in facts["history"]:
        what = event["field"] + (f" {event['topic']}" if event["topic"] else "")
        change = f"{event['old'] or 'off'} → {event['new'] or 'off'}"
        cells = (event["at"], what, change, event["source"], event["actor"], event["reason"])
        table.add_row(*(escape(cell) for cell in cells))
    say(table)


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
    consent_text: str = typer.Option(
        "",
        "--consent",
        help='Where new members\' consent comes from, e.g. "association membership terms": '
        "they are then active at once. Without it (or a consent column) they are pending "
        "and are sent a confirmation email.",
    ),
) -> None:
    """Import members from CSV (email,name,role,topics and the export's columns);
    all-or-nothing unless --partial."""
    try:
        text = read_file(file)
    except CsvFormatError as exc:
        fail(str(exc))
    with open_session() as session:
        try:
            report = import_members(
                session, text, partial=partial, actor=audit.cli_actor(), consent_basis=consent_text
            )
        except CsvFormatError as exc:
            fail(f"{file}: {exc}")
    for error in report.errors:
        errors.print(
            f"[red]{escape(str(file))}:{error.line}:[/] {escape(error.reason)}", highlight=False
        )
    for kept in report.kept:
        console.print(
            escape(f"{file}:{kept.line}: {kept.email}: {kept.message}"),
            highlight=False,
            soft_wrap=True,
        )
    if not report.written:
        fail(
            f"{len(report.errors)} bad rows; nothing was written (use --partial to write the rest)"
        )
    console.print(import_summary(report), highlight=False, soft_wrap=True)
    if report.errors:
        raise typer.Exit(1)


@app.command()
def export(file: Path = typer.Argument(..., dir_okay=False)) -> None:
    """Export all members (with status, pauses, opt-outs, consent) and the suppression list to
    CSV, in the columns that import reads back."""
    with open_session() as session:
        rows = export_rows(session)
        audit.record(session, audit.cli_actor(), "member.export", "member", rows=len(rows))
    write_text_file(file, write_rows(rows))
    console.print(f"Wrote {len(rows)} rows to {file}.", highlight=False)

"""`newsletter sends ...`: schedule, list, show, cancel, test and retry sends."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import typer

from newsletter.cli.common import (
    USAGE_ERROR,
    check_ready,
    console,
    fail,
    open_session,
    print_json,
)
from newsletter.cli.queueing import (
    after_queueing,
    has_time,
    inline_option,
    local_time,
    queueing,
)
from newsletter.config import get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from newsletter.chasing import ChaseRule
    from newsletter.delivery.progress import SendProgress

# Each command imports what only it needs: `sends show --json` is run by scripts, often, and
# should not pay for the delivery engine (or rich) that it does not use.

app = typer.Typer(help="Scheduled sends and the progress of every send.", no_args_is_help=True)


@app.command()
def schedule(
    kind: str = typer.Option("announcement", "--kind", help="announcement"),
    subject: str = typer.Option(..., "--subject"),
    body_file: Path = typer.Option(..., "--body-file", exists=True, dir_okay=False, readable=True),
    topic: list[str] = typer.Option([], "--topic", help="Topic slug (repeatable)."),
    role: list[str] = typer.Option([], "--role", help="Only members with this role (repeatable)."),
    at: str = typer.Option(..., "--at", help='Local time, "YYYY-MM-DD HH:MM".'),
    respect_window: bool = typer.Option(
        False, "--respect-window", help="Outside the send window, hold it until the window opens."
    ),
    wait: bool = typer.Option(False, "--wait", help="Show progress until the send finishes."),
    as_json: bool = typer.Option(False, "--json"),
    acknowledge: bool = typer.Option(
        False, "--needs-acknowledgement", help='An urgent notice: an "I\'ve read this" button.'
    ),
    chase_days: int | None = typer.Option(
        None, "--chase-days", help="Chase those who have not acknowledged after this many days."
    ),
    chase_times: int | None = typer.Option(None, "--chase-times", help="Chase at most so often."),
) -> None:
    """Schedule an announcement to the members of some topics (and roles) at a local time."""
    from newsletter import audit
    from newsletter.delivery.announcements import SendError, schedule_announcement
    from newsletter.scheduling import SchedulingError, parse_local

    if kind != "announcement":
        fail(f"unknown kind {kind!r}: only announcements can be scheduled")
    chase = _chase_rule(acknowledge, chase_days, chase_times)
    try:
        when = parse_local(at, ZoneInfo(get_settings().TIMEZONE))
        if not has_time(at):
            fail(
                f'--at {at!r} has no time of day; give one, like --at "{at.strip()} 09:00"',
                code=USAGE_ERROR,
            )
        with queueing(inline=False), open_session() as session:
            _check_roles(session, role)
            send = schedule_announcement(
                session,
                subject=subject,
                body_markdown=body_file.read_text(encoding="utf-8"),
                topic_slugs=[t.strip().lower() for t in topic],
                roles=role,
                at=when,
                actor=audit.cli_actor(),
                respect_window=respect_window,
                acknowledge=chase,
            )
    except (SendError, SchedulingError) as exc:
        fail(f"not scheduled: {exc}")
    if as_json:
        print_json({"id": send.id, "status": send.status.value, "scheduled_at": send.scheduled_at})
    else:
        held = " (held for the send window)" if send.held else ""
        console.print(
            f"Scheduled send {send.id} for {local_time(send.scheduled_at)}{held}; "
            "it goes out then if "
            "`newsletter beat` and `newsletter worker` are running."
        )
    after_queueing([send.id], inline=False, wait=wait)


def _chase_rule(acknowledge: bool, days: int | None, times: int | None) -> ChaseRule | None:
    """The chase rule of an urgent notice (settings' defaults for what is not given)."""
    from newsletter.chasing import ChaseRuleError, chase_rule

    if not acknowledge:
        if days is not None or times is not None:
            fail("--chase-days and --chase-times need --needs-acknowledgement", USAGE_ERROR)
        return None
    settings = get_settings()
    try:
        return chase_rule(
            settings.ACK_CHASE_DAYS if days is None else days,
            settings.ACK_CHASE_TIMES if times is None else times,
        )
    except ChaseRuleError as exc:
        fail(f"--{exc.field.replace('_', '-')}: {exc}", USAGE_ERROR)


def _check_roles(session: Session, roles: list[str]) -> None:
    """Roles are free text on members: a role nobody has is a typo, not an audience."""
    from newsletter.members import roles_in_use

    known = roles_in_use(session)
    lowered = {r.lower() for r in known}
    for role in roles:
        if role.strip() and role.strip().lower() not in lowered:
            listed = ", ".join(repr(r) for r in known) or "none yet"
            fail(f"no member has the role {role!r} (roles members have: {listed})", USAGE_ERROR)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """Every send, newest first, with counts by delivery status; alerts whose fan-out is still
    queued (no worker has run it yet) come first, as `queued`."""
    from rich.table import Table

    from newsletter.delivery.progress import list_sends, queued_alerts

    with open_session() as session:
        sends = queued_alerts(session) + list_sends(session)
    if as_json:
        print_json([s.to_json() for s in sends])
        return
    table = Table("id", "kind", "status", "subject", "when", "recipients", "sent", "deferred")
    table.add_column("failed")
    for s in sends:
        c = s.counts
        table.add_row(
            str(s.id) if s.id is not None else f"(article {s.article_id})",
            s.kind,
            s.status,
            s.subject,
            local_time(s.scheduled_at or s.started_at or s.queued_at),
            str(s.recipients) if s.recipients is not None else "?",
            str(c["sent"]),
            str(c["deferred"]),
            str(c["failed"]),
        )
    console.print(table)


@app.command()
def show(send_id: int, as_json: bool = typer.Option(False, "--json")) -> None:
    """One send: its status and how many deliveries are in each state."""
    from newsletter.delivery.progress import describe_send

    with open_session() as session:
        summary = describe_send(session, send_id)
    if summary is None:
        fail(f"there is no send {send_id}")
    if as_json:
        print_json(summary.to_json())
        return
    _print_summary(summary)


def _print_summary(s: SendProgress) -> None:
    from rich.markup import escape
    from rich.table import Table

    console.print(f"[bold]Send {s.id}[/] ({s.kind}) {s.subject}", highlight=False)
    console.print(f"status: {s.status}", highlight=False)
    if s.fanning_out:
        console.print(
            f"still fanning out: {s.recipients} recipients written so far, more to come",
            highlight=False,
        )
    if s.held_until:
        console.print(f"held until {s.held_until} (outside the send window)")
    elif s.scheduled_at:
        console.print(f"scheduled for: {local_time(s.scheduled_at)}")
    if s.status == "missed":
        console.print(
            "Its time passed while nothing was running: `newsletter sends retry "
            f"{s.id}` sends it now, `newsletter sends cancel {s.id}` drops it."
        )
    errors = s.last_errors or {}
    table = Table("status", "deliveries", "last error")
    for status, count in s.counts.items():
        table.add_row(status, str(count), escape(errors.get(status, "")))
    table.add_row("[bold]total[/]", str(s.recipients), "")
    console.print(table)


@app.command()
def cancel(send_id: int) -> None:
    """Cancel a send that has not started yet."""
    from newsletter import audit
    from newsletter.delivery.announcements import SendError, cancel_send

    try:
        with open_session() as session:
            cancel_send(session, send_id, audit.cli_actor())
    except SendError as exc:
        fail(str(exc))
    console.print(f"Send {send_id} cancelled; it will not go out.")


@app.command()
def test(send_id: int, to: str = typer.Option(..., "--to", help="Where to send the test.")) -> None:
    """Send one copy, marked as a test, to an address; it does not count in the send."""
    from newsletter.delivery.announcements import SendError, send_test

    check_ready(email=True)
    from newsletter.delivery.backends.base import BackendUnavailable, Outcome
    from newsletter.members import MemberError

    try:
        with open_session() as session:
            result = send_test(session, send_id, to, get_settings())
    except (SendError, MemberError, BackendUnavailable) as exc:
        fail(str(exc))
    if result.outcome != Outcome.SENT:
        fail(f"the test was not accepted: {result.code or ''} {result.detail}".strip())
    console.print(f"Test copy of send {send_id} sent to {to}.")


@app.command()
def retry(send_id: int, inline: bool = inline_option()) -> None:
    """Send a send's failed and deferred deliveries again now (never a sent one); starts a
    missed send now."""
    from newsletter import audit
    from newsletter.delivery import jobs
    from newsletter.delivery.announcements import SendError

    try:
        with queueing(inline):
            retried = jobs.retry(send_id, audit.cli_actor())
    except SendError as exc:
        fail(str(exc))
    verb = "tried" if inline else "queued"
    if retried.started:
        console.print(f"Send {send_id} started now: {retried.started} deliveries {verb}.")
    elif retried.total:
        console.print(
            f"Send {send_id}: {retried.failed} failed and {retried.deferred} deferred "
            f"deliveries {verb} again.",
            highlight=False,
        )
    else:
        console.print(
            f"Send {send_id}: nothing to retry (no failed or deferred deliveries).",
            highlight=False,
        )
        return
    after_queueing([send_id], inline=inline)


@app.command()
def acknowledgements(
    send_id: int,
    csv_file: Path | None = typer.Option(None, "--csv", help="Write every member's line here."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Who has and has not acknowledged an urgent notice, by topic and role."""
    from newsletter.acknowledgements import report, report_csv

    with open_session() as session:
        found = report(session, send_id)
    if found is None:
        fail(f"send {send_id} is not an urgent notice that members acknowledge", USAGE_ERROR)
    if csv_file is not None:
        csv_file.write_text(report_csv(found), encoding="utf-8")
    if as_json:
        print_json(
            {
                "id": found.notice_id,
                "acknowledged": found.acknowledged,
                "not_yet": found.waiting,
                "by_topic": {t.name: [t.acknowledged, t.waiting] for t in found.by_topic},
                "by_role": {t.name: [t.acknowledged, t.waiting] for t in found.by_role},
                "chases": [c.send_id for c in found.chases],
            }
        )
        return
    console.print(
        f"Send {found.notice_id}: {found.acknowledged} acknowledged, {found.waiting} not yet; "
        f"{len(found.chases)} of at most {found.chase_times} chases.",
        highlight=False,
    )

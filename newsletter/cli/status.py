"""`newsletter status`: workers, beat, queues, the work in hand and what is wrong, at a glance."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from newsletter.cli.common import console, print_json
from newsletter.config import get_settings


def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show workers, beat, queues, sends in progress, the last digests and what is wrong.

    Exits 1 when something needs attention (the `problems` it lists), for scripts.
    """
    from newsletter.observability.status import gather

    report = gather(get_settings())
    if as_json:
        print_json(report)
    else:
        _print(report)
    if report["problems"]:
        raise typer.Exit(1)


def _yes(value: bool) -> str:
    return "[green]yes[/]" if value else "[bold red]no[/]"


def _print(report: dict[str, Any]) -> None:
    parts = Table(title="Service", show_header=True, title_justify="left")
    for column in ("part", "reachable", "detail"):
        parts.add_column(column)
    for name, label in (("database", "database"), ("broker", "broker"), ("backend", "email")):
        part = report[name]
        title = f"{label} ({part['name']})" if name == "backend" else label
        parts.add_row(title, _yes(part["reachable"]), part["detail"])
    console.print(parts)
    if report["broker"]["queues"] is not None:
        queues = ", ".join(f"{q} {n}" for q, n in report["broker"]["queues"].items())
        console.print(f"Queues waiting: {queues}", highlight=False)
    workers = Table(title="Workers and beat", title_justify="left")
    for column in ("name", "alive", "last seen"):
        workers.add_column(column)
    for worker in report["workers"]:
        workers.add_row(worker["name"], _yes(worker["alive"]), worker.get("last_seen_at", ""))
    if report["beat"] is not None:
        beat = report["beat"]
        workers.add_row(beat["name"], _yes(beat["alive"]), beat["last_tick"])
    console.print(workers)
    if report["deliveries"] is not None:
        d, sends = report["deliveries"], report["sends"]
        console.print(
            f"Sends running: {sends['running']}; emails pending {d['pending']}, sending "
            f"{d['sending']}, deferred {d['deferred']}, failed in the last day "
            f"{d['failed_last_day']}; oldest pending {d['oldest_pending_seconds']:.0f} s",
            highlight=False,
        )
        for frequency, last in report["digests"].items():
            when = f"{last['created_at']} ({last['status']})" if last else "never"
            console.print(f"Last {frequency} digest: {when}", highlight=False)
    if report["problems"]:
        console.print("[bold red]Needs attention:[/]")
        for problem in report["problems"]:
            console.print(f"  - {problem}", highlight=False, soft_wrap=True)
    else:
        console.print("[green]Nothing needs attention.[/]")

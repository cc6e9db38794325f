"""The `newsletter` command: one Typer app with a sub-command group per area."""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from newsletter.cli import articles, db, digest, members, reminders, sends, topics, worker
from newsletter.cli import serve as serve_command
from newsletter.cli import staff as staff_commands
from newsletter.cli.common import fail
from newsletter.cli.demo import demo
from newsletter.cli.preview import preview
from newsletter.config import ConfigError, get_settings
from newsletter.db import NotMigrated, ensure_migrated

ARGS_KEY = "newsletter.args"


class RootGroup(TyperGroup):
    """Remembers the command line, so the root callback can tell a request for help."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        ctx.meta[ARGS_KEY] = list(args)
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=RootGroup,
    help="Email newsletters and alerts for a school leaders' association.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(topics.app, name="topics")
app.add_typer(members.app, name="members")
app.add_typer(articles.app, name="articles")
app.add_typer(sends.app, name="sends")
app.add_typer(digest.app, name="digest")
app.add_typer(reminders.app, name="reminders")
app.command("worker")(worker.worker)
app.command("beat")(worker.beat)
app.command()(demo)
app.add_typer(staff_commands.app, name="staff")
app.command("serve")(serve_command.serve)
app.command("preview")(preview)

# Commands that must run before (or without) a migrated database.
NO_DATABASE_CHECK = {"db", "demo", "worker", "beat", "serve"}


@app.callback()
def root(ctx: typer.Context) -> None:
    try:
        get_settings()
    except ConfigError as exc:
        fail(str(exc), code=2)
    if ctx.invoked_subcommand in NO_DATABASE_CHECK or ctx.resilient_parsing:
        return
    if _asks_for_help(ctx):
        return
    try:
        ensure_migrated()
    except NotMigrated as exc:
        fail(str(exc))


def _asks_for_help(ctx: typer.Context) -> bool:
    """`--help`, or a command group with nothing after it: help needs no database."""
    args = ctx.meta.get(ARGS_KEY, [])
    if "--help" in args:
        return True
    group = ctx.command
    assert isinstance(group, TyperGroup)
    return len(args) == 1 and isinstance(group.get_command(ctx, args[0]), TyperGroup)


def main() -> None:
    app()

"""The `newsletter` command: one Typer app with a sub-command group per area.

The sub-commands load lazily: COMMANDS names each one, with its short help (what `newsletter
--help` lists) and where it lives, and its module is imported only when that command runs. So
`newsletter sends show` does not pay for the article parser, the email rendering or Celery.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any, NamedTuple, cast

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

# click's ClickException, which Typer may vendor: found through a public subclass.
USAGE_ERRORS: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)
ARGS_KEY = "newsletter.args"
LISTING_KEY = "newsletter.listing"


class Entry(NamedTuple):
    """A sub-command: `target` is "module:attribute", a typer.Typer group or a command function."""

    target: str
    help: str
    group: bool


# In the order `newsletter --help` lists them. `help` must be the first paragraph of the
# command's own help (its Typer(help=...) or its docstring): tests/integration/cli/test_lazy.py
# checks that, and that every module here is in the table.
COMMANDS: dict[str, Entry] = {
    "worker": Entry(
        "newsletter.cli.worker:worker",
        "Run a worker: it sends the queued emails (start one per machine; more scale out).",
        group=False,
    ),
    "beat": Entry(
        "newsletter.cli.worker:beat",
        "Run the clock: digests, reminders, scheduled sends and the recovery sweep, on time.",
        group=False,
    ),
    "demo": Entry(
        "newsletter.cli.demo:demo",
        "Set up a database, members and articles, send alerts and digests, and show the results.",
        group=False,
    ),
    "serve": Entry(
        "newsletter.cli.serve:serve", "Serve the web app until stopped (Ctrl-C).", group=False
    ),
    "preview": Entry(
        "newsletter.cli.preview:preview",
        "Render an email as a member would get it; prints the text part unless --out/--eml.",
        group=False,
    ),
    "db": Entry("newsletter.cli.db:app", "Create or upgrade the database.", group=True),
    "topics": Entry("newsletter.cli.topics:app", "List and add topics.", group=True),
    "members": Entry(
        "newsletter.cli.members:app", "Add, show, list, import and export members.", group=True
    ),
    "articles": Entry(
        "newsletter.cli.articles:app",
        "Import, list, show, publish and withdraw articles.",
        group=True,
    ),
    "sends": Entry(
        "newsletter.cli.sends:app", "Scheduled sends and the progress of every send.", group=True
    ),
    "calendar": Entry(
        "newsletter.cli.calendar:app",
        "School term dates per region (their holidays pause digests).",
        group=True,
    ),
    "digest": Entry("newsletter.cli.digest:app", "Run digests by hand.", group=True),
    "reminders": Entry("newsletter.cli.reminders:app", "Deadline reminders.", group=True),
    "inbound": Entry(
        "newsletter.cli.inbound:app",
        "Receive bounces, complaints and mailed unsubscribes (SMTP, IMAP, files).",
        group=True,
    ),
    "suppressions": Entry(
        "newsletter.cli.suppressions:app",
        "The suppression list: addresses never emailed, and why.",
        group=True,
    ),
    "staff": Entry(
        "newsletter.cli.staff:app",
        "Create and list staff accounts for the web console, and set their passwords.",
        group=True,
    ),
    "status": Entry(
        "newsletter.cli.status:status",
        "Show workers, beat, queues, sends in progress, the last digests and what is wrong.",
        group=False,
    ),
    "health": Entry(
        "newsletter.cli.health:health",
        "Exit 0 if this machine's web app, worker, beat or inbound server is alive, else 1.",
        group=False,
    ),
    "dkim-record": Entry(
        "newsletter.cli.dkim:dkim_record",
        "Print the DKIM TXT record to publish for NEWSLETTER_DKIM_PRIVATE_KEY_PATH.",
        group=False,
    ),
}

# Commands that must run before (or without) a migrated database, or check it themselves.
NO_DATABASE_CHECK = {"db", "demo", "worker", "beat", "serve", "status", "health", "dkim-record"}


def load_command(name: str) -> TyperCommand | TyperGroup:
    """Import the command's module and build its Click command, as `add_typer` would have."""
    module_name, attribute = COMMANDS[name].target.split(":")
    target = getattr(importlib.import_module(module_name), attribute)
    holder = typer.Typer()
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    return cast(TyperCommand | TyperGroup, typer.main.get_group(holder).commands[name])


class LazyCommands(MutableMapping[str, Any]):
    """The root's sub-commands by name: the names are known at once, each command on first use."""

    def __init__(self) -> None:
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in COMMANDS:
                raise KeyError(name)
            self._loaded[name] = load_command(name)
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        raise TypeError("the newsletter commands are fixed")

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)


class RootGroup(TyperGroup):
    """Loads sub-commands on demand, and remembers the command line so the root callback can
    tell a request for help."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands()

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        ctx.meta[ARGS_KEY] = list(args)
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        return list(COMMANDS)

    def get_command(  # type: ignore[override]
        self, ctx: typer.Context, cmd_name: str
    ) -> TyperCommand | TyperGroup | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        if ctx.meta.get(LISTING_KEY):
            # Listing the commands in `newsletter --help`: the table's short help is enough.
            return TyperCommand(name=cmd_name, help=entry.help)
        return cast(TyperCommand | TyperGroup, self.commands[cmd_name])

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:  # type: ignore[override]
        ctx.meta[LISTING_KEY] = True
        try:
            super().format_help(ctx, formatter)
        finally:
            ctx.meta.pop(LISTING_KEY, None)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """As Typer's, except that when stderr is not a terminal a usage error is printed as
        plain lines, not in a box wrapped at 80 columns (a log or a script gets one line)."""
        if sys.stderr.isatty() or not kwargs.get("standalone_mode", True):
            return super().main(*args, **kwargs)
        kwargs["standalone_mode"] = False
        try:
            # Not standalone: Typer raises usage errors instead of drawing them, and returns
            # the code of a typer.Exit (help, a failed command) instead of exiting.
            code = super().main(*args, **kwargs)
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        except USAGE_ERRORS as exc:
            if type(exc).__name__ != "NoArgsIsHelpError":  # its help is printed already
                exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=RootGroup,
    help="Email newsletters and alerts for a school leaders' association.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(ctx: typer.Context) -> None:
    from newsletter.cli.common import USAGE_ERROR, check_ready, fail
    from newsletter.config import ConfigError, get_settings

    try:
        get_settings()
    except ConfigError as exc:
        fail(str(exc), code=USAGE_ERROR)
    if ctx.invoked_subcommand in NO_DATABASE_CHECK or ctx.resilient_parsing:
        return
    if _asks_for_help(ctx):
        return
    check_ready(database=True)


def _asks_for_help(ctx: typer.Context) -> bool:
    """`--help`, or a command group with nothing after it: help needs no database."""
    args = ctx.meta.get(ARGS_KEY, [])
    if "--help" in args:
        return True
    return len(args) == 1 and args[0] in COMMANDS and COMMANDS[args[0]].group


def main() -> None:
    app()

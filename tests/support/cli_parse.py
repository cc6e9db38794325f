"""Parse a `newsletter ...` command line with the real CLI without running it: used to check
the commands written in docker-compose.yml and the README."""

from __future__ import annotations

from typing import Any

import typer.main

from newsletter.cli import app


def resolve(argv: list[str]) -> Any:
    """The command `argv` runs, after parsing all of it as the CLI would (option values, their
    types, files that must exist, required options); fails on any unknown word or option."""
    assert argv[0] == "newsletter", f"{argv} does not run the newsletter command"
    command = typer.main.get_command(app)
    ctx = command.make_context("newsletter", [], resilient_parsing=True)
    args = argv[1:]
    while hasattr(command, "get_command"):  # a group: the next word names a sub-command
        assert args, f"{argv} names a command group, not a command"
        name, args = args[0], args[1:]
        sub = command.get_command(ctx, name)
        assert sub is not None, f"`newsletter {name}` does not exist (from {argv})"
        command = sub
        ctx = command.make_context(name, list(args), parent=ctx)
    assert not ctx.args, f"unexpected arguments {ctx.args} in {argv}"
    return command

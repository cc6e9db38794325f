"""What every command shares: the console, JSON output, errors, and a checked session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from newsletter.db import session_scope

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    errors.print(f"[bold yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


@contextmanager
def open_session() -> Iterator[Session]:
    """A committed-on-success session; the root callback has already checked migrations."""
    with session_scope() as session:
        yield session

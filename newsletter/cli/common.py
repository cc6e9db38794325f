"""What every command shares: the console, JSON output, errors, checks before work, files out."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from sqlalchemy.orm import Session

from newsletter.db import session_scope

# Usage errors and "could not do it" exit 2; "done, but some of it was refused" exits 1.
USAGE_ERROR = 2
# How wide tables may grow when the output is a file or a pipe, where nothing wraps them.
PIPED_WIDTH = 160


class PipeFriendlyConsole(Console):
    """A console that wraps lines at the terminal's width, and not at all when the output is a
    file or a pipe: a script or a log reading it then gets each message on one line."""

    @property
    def soft_wrap(self) -> bool:  # type: ignore[override]
        return not self.is_terminal

    @soft_wrap.setter
    def soft_wrap(self, _value: bool) -> None:
        pass  # decided at each print: tests and scripts swap sys.stdout after import

    @property
    def size(self) -> ConsoleDimensions:
        """A file or a pipe is as wide as a table needs, up to PIPED_WIDTH (not rich's 80)."""
        size = Console.size.fget(self)  # type: ignore[attr-defined]
        if self.is_terminal or "COLUMNS" in os.environ:
            return size
        return ConsoleDimensions(max(size.width, PIPED_WIDTH), size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


console = PipeFriendlyConsole()
errors = PipeFriendlyConsole(stderr=True)


def error(message: str) -> None:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)


def fail(message: str, code: int = 1) -> NoReturn:
    error(message)
    raise typer.Exit(code)


def warn(message: str) -> None:
    errors.print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


@contextmanager
def open_session() -> Iterator[Session]:
    """A committed-on-success session; the root callback has already checked migrations."""
    with session_scope() as session:
        yield session


def check_ready(*, database: bool = False, broker: bool = False, email: bool = False) -> None:
    """Stop, in one line and with exit 2, when what the settings point at cannot be used."""
    from newsletter import preflight
    from newsletter.config import get_settings

    settings = get_settings()
    try:
        if database:
            preflight.check_database(settings)
        if broker:
            preflight.check_broker(settings)
        if email:
            preflight.check_email(settings)
    except preflight.StartupError as exc:
        fail(str(exc), code=USAGE_ERROR)


def write_text_file(path: Path, text: str) -> None:
    """Write the whole file or nothing (a temporary file renamed into place); a path that
    cannot be written is one line naming it and the fix."""
    folder = path.parent
    if not folder.is_dir():
        fail(
            f"cannot write {path}: the folder {folder} does not exist; create it first "
            "or choose another path",
            code=USAGE_ERROR,
        )
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}", code=USAGE_ERROR)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        fail(f"cannot write {path}: {exc.strerror or exc}", code=USAGE_ERROR)

"""What every command shares: the console, JSON output, errors, checks before work, files out."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy.orm import Session

# Usage errors and "could not do it" exit 2; "done, but some of it was refused" exits 1.
USAGE_ERROR = 2


class _ConsoleOnFirstUse:
    """Stands for a terminal.PipeFriendlyConsole, made when first used: a command that prints
    only JSON (`sends show --json`, run by scripts) then starts without loading rich."""

    def __init__(self, *, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def _made(self) -> Console:
        if self._console is None:
            from newsletter.cli.terminal import PipeFriendlyConsole

            self._console = PipeFriendlyConsole(stderr=self._stderr)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._made(), name)

    # Python looks these up on the class, not through __getattr__; rich's progress bars use
    # them (`with console:`).
    def __enter__(self) -> Console:
        return self._made().__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        self._made().__exit__(*exc_info)


console = cast("Console", _ConsoleOnFirstUse())
errors = cast("Console", _ConsoleOnFirstUse(stderr=True))


def error(message: str) -> None:
    from rich.markup import escape  # rich only when there is something to say: see above

    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)


def fail(message: str, code: int = 1) -> NoReturn:
    error(message)
    raise typer.Exit(code)


def warn(message: str) -> None:
    from rich.markup import escape

    errors.print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


@contextmanager
def open_session() -> Iterator[Session]:
    """A committed-on-success session; the root callback has already checked migrations."""
    from newsletter.db import session_scope

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

"""The root command loads each sub-command's module only when that command runs.

`newsletter --help` lists the commands from the COMMANDS table, so the table must say what the
commands themselves say; and a quick command (`sends show`, run by scripts) must not import the
heavy parts of the service (rendering, the article parser, Celery, alembic, the web app), nor
rich when it prints JSON, nor PostgreSQL's dialect on SQLite: its start is mostly imports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.core import TyperGroup

import newsletter.cli
from newsletter.cli import COMMANDS, load_command
from newsletter.models import Send, SendKind, SendStatus

ROOT = Path(__file__).resolve().parents[3]
# The modules of newsletter/cli that hold no command.
HELPERS = {"__init__", "common", "queueing", "terminal"}
HEAVY = (
    "alembic",
    "celery",
    "kombu",
    "redis",
    "premailer",
    "lxml",
    "jinja2",
    "markdown",
    "nh3",
    "dkim",
    "icalendar",
    "fastapi",
    "starlette",
    "prometheus_client",
    "workers",
    "newsletter.web",
    "newsletter.rendering",
    "newsletter.articles",
    "newsletter.delivery.announcements",
    "newsletter.cli.articles",
    "newsletter.cli.preview",
)


def _first_paragraph(text: str) -> str:
    return " ".join(text.strip().split("\n\n")[0].split())


def test_every_cli_module_is_in_the_table() -> None:
    modules = {path.stem for path in Path(newsletter.cli.__file__).parent.glob("*.py")}
    listed = {entry.target.split(":")[0].rsplit(".", 1)[1] for entry in COMMANDS.values()}
    assert listed == modules - HELPERS


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_table_says_what_the_command_says(name: str) -> None:
    entry = COMMANDS[name]
    command = load_command(name)
    assert command.name == name
    assert _first_paragraph(command.short_help or command.help or "") == entry.help
    assert isinstance(command, TyperGroup) == entry.group


def _run(args: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `newsletter ARGS` in a fresh interpreter; returns it and the modules it imported."""
    modules = tmp_path / "modules.json"
    script = (
        "import json, sys\n"
        "from newsletter.cli import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        f"    open({str(modules)!r}, 'w').write(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )
    return done, set(json.loads(modules.read_text()))


def _loaded(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_help_lists_every_command_without_loading_them(tmp_path: Path) -> None:
    done, modules = _run(["--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    for name, entry in COMMANDS.items():
        assert f" {name} " in done.stdout and entry.help in done.stdout, name
    commands = tuple(entry.target.split(":")[0] for entry in COMMANDS.values())
    assert _loaded(modules, commands + ("sqlalchemy", "newsletter.db")) == []


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "table"])
def test_sends_show_loads_only_what_it_needs(
    db_url: str, session: Session, tmp_path: Path, as_json: bool
) -> None:
    send = Send(kind=SendKind.ANNOUNCEMENT, status=SendStatus.SENDING, subject="Term dates")
    session.add(send)
    session.commit()

    args = ["sends", "show", str(send.id)] + (["--json"] if as_json else [])
    done, modules = _run(args, tmp_path)
    assert done.returncode == 0, done.stderr
    if as_json:
        assert json.loads(done.stdout)["subject"] == "Term dates"
    else:
        assert f"Send {send.id} (announcement) Term dates" in done.stdout
    heavy = HEAVY + (("rich",) if as_json else ())
    if db_url.startswith("sqlite"):
        heavy += ("sqlalchemy.dialects.postgresql", "psycopg")
    assert _loaded(modules, heavy) == []

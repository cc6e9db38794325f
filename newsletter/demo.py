"""`newsletter demo`: the whole service on the embedded default, start to finish, on one machine.

It uses its own database under var/demo/ so it never touches a real one, and prints what it
did and where to look.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rich.console import Console
from rich.table import Table

from newsletter import db
from newsletter.config import get_settings
from newsletter.member_csv import import_members
from newsletter.members import list_members

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def demo_environment(var_dir: Path) -> dict[str, str]:
    """Settings for the demo: SQLite, the embedded broker, the local SMTP catcher."""
    return {
        "NEWSLETTER_VAR_DIR": str(var_dir),
        "NEWSLETTER_DATABASE_URL": f"sqlite:///{var_dir / 'newsletter.db'}",
        "NEWSLETTER_BROKER_URL": "embedded",
        "NEWSLETTER_EMAIL_BACKEND": "smtp",
        "NEWSLETTER_SMTP_HOST": "127.0.0.1",
    }


def prepare(var_dir: Path) -> None:
    if var_dir.exists():
        shutil.rmtree(var_dir)
    var_dir.mkdir(parents=True)
    os.environ.update(demo_environment(var_dir))
    get_settings.cache_clear()


def members_table(members: list[dict[str, object]]) -> Table:
    table = Table("email", "name", "role", "subscriptions", title="Members")
    for m in members:
        subs = m["subscriptions"]
        assert isinstance(subs, dict)
        table.add_row(
            str(m["email"]),
            str(m["name"]),
            str(m["role"]),
            ", ".join(f"{slug}={freq}" for slug, freq in subs.items()),
        )
    return table


def run(console: Console, var_dir: Path) -> None:
    prepare(var_dir)
    settings = get_settings()
    console.rule("[bold]newsletter demo")
    revision = db.upgrade(settings.DATABASE_URL)
    console.print(f"Database: {settings.DATABASE_URL} (revision {revision})")
    with db.session_scope() as session:
        report = import_members(session, (SAMPLES / "members.csv").read_text(), actor="demo")
        if report.errors:
            raise RuntimeError(f"sample members are invalid: {report.errors}")
        members = list_members(session)
    console.print(members_table(members))
    console.print(f"{len(members)} members imported from {SAMPLES / 'members.csv'}")

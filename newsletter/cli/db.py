"""`newsletter db ...`: create or upgrade the database."""

from __future__ import annotations

import typer
from sqlalchemy.engine import make_url

from newsletter import db
from newsletter.cli.common import console
from newsletter.config import get_settings

app = typer.Typer(help="Create or upgrade the database.", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Create the database or bring it up to the newest migration (safe to run again)."""
    url = get_settings().DATABASE_URL
    revision = db.upgrade(url)
    shown = make_url(url).render_as_string(hide_password=True)
    console.print(f"Database {shown} is at revision {revision}.", highlight=False)

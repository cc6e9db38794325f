"""`newsletter db ...`: create or upgrade the database."""

from __future__ import annotations

import typer

from newsletter import db
from newsletter.cli.common import USAGE_ERROR, console, fail
from newsletter.config import get_settings

app = typer.Typer(help="Create or upgrade the database.", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Create the database or bring it up to the newest migration (safe to run again)."""
    from alembic.util import CommandError

    url = get_settings().DATABASE_URL
    try:
        revision = db.upgrade(url)
    except db.DatabaseUnavailable as exc:
        fail(str(exc), code=USAGE_ERROR)
    except CommandError as exc:
        # e.g. a database migrated by a newer version of the code, at a revision this one lacks
        fail(f"cannot upgrade {db.shown_url(url)}: {exc}", code=USAGE_ERROR)
    console.print(f"Database {db.shown_url(url)} is at revision {revision}.", highlight=False)

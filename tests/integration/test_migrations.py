"""Migrations build exactly the schema the models describe, and commands refuse an old database."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from newsletter import db
from newsletter.cli import app
from newsletter.models import Base


def test_migrations_match_the_models(db_url: str) -> None:
    with db.get_engine(db_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_commands_refuse_an_unmigrated_database(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from newsletter.config import get_settings

    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{tmp_path}/fresh.db")
    get_settings.cache_clear()
    runner = CliRunner()

    refused = runner.invoke(app, ["members", "list"])
    assert refused.exit_code == 1
    assert "run `newsletter db upgrade` first" in refused.stderr

    for asks_for_help in (["articles", "--help"], ["articles", "list", "--help"], ["sends"]):
        shown = runner.invoke(app, asks_for_help)
        assert "Usage:" in shown.stdout and "db upgrade" not in shown.stderr, asks_for_help

    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.stderr
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0  # a second upgrade is harmless
    assert runner.invoke(app, ["members", "list"]).exit_code == 0


def test_a_wrong_setting_names_the_variable(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from newsletter.config import get_settings

    monkeypatch.setenv("NEWSLETTER_SMTP_PORT", "not-a-port")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["topics", "list"])
    assert result.exit_code == 2
    assert "NEWSLETTER_SMTP_PORT" in result.stderr

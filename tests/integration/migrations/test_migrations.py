"""Migrations build exactly the schema the models describe, and commands refuse an old database."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from newsletter import db, members
from newsletter.cli import app
from newsletter.models import (
    LEDGER_FILLFACTOR,
    SEARCH_INDEXES,
    Base,
    Member,
    compared_by_alembic,
)

LITERALS = {"literal_binds": True}


def test_migrations_match_the_models(db_url: str) -> None:
    with db.get_engine(db_url).connect() as connection:
        options = {"compare_type": True, "include_object": compared_by_alembic}
        context = MigrationContext.configure(connection, opts=options)
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_the_ledger_leaves_room_for_hot_updates_as_the_model_says(pg_url: str) -> None:
    """Alembic does not compare storage parameters: the migrated ledger's fillfactor (ADR 0024,
    PostgreSQL only) is checked here."""
    with db.get_engine(pg_url).connect() as connection:
        options = connection.execute(
            text("SELECT reloptions FROM pg_class WHERE relname = 'delivery'")
        ).scalar_one()
    assert options == [f"fillfactor={LEDGER_FILLFACTOR}"]


def test_member_search_has_its_trigram_indexes_on_postgresql(pg_url: str) -> None:
    """Left out of the comparison above (models.SEARCH_INDEXES): checked here, and used."""
    engine = db.get_engine(pg_url)
    with engine.connect() as connection:
        names = connection.execute(
            text("SELECT indexname FROM pg_indexes WHERE tablename = 'member'")
        ).scalars()
        assert set(SEARCH_INDEXES) <= set(names)
        connection.execute(text("SET enable_seqscan = off"))  # an empty table: force the choice
        search = members.search_condition("Ann")  # what the console's member search asks
        query = select(Member.id).where(search).compile(engine, compile_kwargs=LITERALS)
        plan = "\n".join(connection.execute(text(f"EXPLAIN {query}")).scalars())
    assert all(name in plan for name in SEARCH_INDEXES), plan


def test_the_head_revision_in_the_code_is_the_newest_migration() -> None:
    """ensure_migrated compares with db.HEAD_REVISION, not alembic (too slow for every command):
    a new migration must update it."""
    assert db.head_revision() == db.HEAD_REVISION


def test_ensure_migrated_reads_the_version_table(db_url: str) -> None:
    engine = db.get_engine(db_url)
    db.ensure_migrated(db_url)
    assert db.current_revision(engine) == db.HEAD_REVISION

    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0004'"))
    with pytest.raises(db.NotMigrated, match=r"is at revision 0004; run `newsletter db upgrade`"):
        db.ensure_migrated(db_url)

    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
    assert db.current_revision(engine) is None
    with pytest.raises(db.NotMigrated, match=r"has no tables yet; run `newsletter db upgrade`"):
        db.ensure_migrated(db_url)


def test_a_broken_version_table_is_an_error_not_a_fresh_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/odd.db"
    with db.get_engine(url).begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (something_else TEXT)"))
    with pytest.raises(DBAPIError):
        db.ensure_migrated(url)
    db.get_engine(url).dispose()


def test_commands_refuse_an_unmigrated_database(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from newsletter.config import get_settings

    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{tmp_path}/fresh.db")
    get_settings.cache_clear()
    runner = CliRunner()

    refused = runner.invoke(app, ["members", "list"])
    assert refused.exit_code == 2
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

"""Engine, sessions, the declarative Base, and the migration check every command relies on."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, Engine, MetaData, Result, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from newsletter.config import ENV_PREFIX, get_settings

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest migration in MIGRATIONS_DIR/versions: a new migration must update it
# (tests/integration/migrations/test_migrations.py compares it with alembic's head).
HEAD_REVISION = "0025"
VERSION_TABLE = "alembic_version"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class NotMigrated(Exception):
    """The database is missing or behind the code's migrations."""


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened; the message names the setting and the fix."""


def insert_for(session: Session, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that understands ON CONFLICT on both databases."""
    # Imported here: a command on SQLite need not load PostgreSQL's dialect (CLI start time).
    from sqlalchemy.dialects import postgresql, sqlite

    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return module.insert(table)


def rows_changed(result: Result[Any]) -> int:
    """How many rows an UPDATE, DELETE or INSERT changed (SQLAlchemy types `execute` as
    returning a plain Result, which has no rowcount)."""
    return cast(CursorResult[Any], result).rowcount or 0


def shown_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def unavailable(url: str, exc: BaseException) -> DatabaseUnavailable:
    """One line for a database that cannot be used: what, why (as the driver said), the fix."""
    setting = f"{ENV_PREFIX}DATABASE_URL"
    reason = _driver_reason(exc)
    if make_url(url).get_backend_name() == "sqlite":
        if "not a database" in reason:
            fix = f"move that file away, or set {setting} to another file"
            fix += "; then run `newsletter db upgrade`"
        else:
            fix = f"check that its folder exists and can be written, or set {setting} elsewhere"
        return DatabaseUnavailable(f"{setting}: cannot open {shown_url(url)}: {reason}; {fix}")
    return DatabaseUnavailable(
        f"{setting}: cannot connect to {shown_url(url)}: {reason}; start PostgreSQL there, "
        f"or set {setting} to a database that is running"
    )


def _driver_reason(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip() or type(original).__name__
    first = text.splitlines()[0]
    # psycopg: 'connection failed: connection to server at "h", port 1 failed: Connection refused'
    first = first.removeprefix("connection failed: ")
    if " failed: " in first and first.startswith("connection to server"):
        first = first.split(" failed: ", 1)[1]
    return " ".join(first.split()).rstrip(".")


DEFAULT_WAIT_SECONDS = 30.0


def _tune_sqlite(wait_seconds: float):  # type: ignore[no-untyped-def]
    def tune(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # WAL lets the web app, worker and CLI read while one of them writes;
        # busy_timeout makes writers queue instead of failing at once.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(wait_seconds * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return tune


def make_engine(url: str, wait_seconds: float = DEFAULT_WAIT_SECONDS, **options: Any) -> Engine:
    """An engine whose connections wait up to `wait_seconds` for a lock (SQLite's writer
    lock, a PostgreSQL row lock) before failing; a short wait also bounds the connection.
    `options` go to create_engine (e.g. poolclass)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": wait_seconds}, **options)
        event.listen(engine, "connect", _tune_sqlite(wait_seconds))
        return engine
    if parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))
    if wait_seconds == DEFAULT_WAIT_SECONDS:
        # A host that drops packets would otherwise hang a command for minutes before saying so.
        return create_engine(
            url, pool_pre_ping=True, connect_args={"connect_timeout": 10}, **options
        )
    milliseconds = int(wait_seconds * 1000)
    connect_args = {
        # A stopped server refuses at once; this bounds a server that does not answer at all.
        "connect_timeout": max(2, round(wait_seconds)),
        "options": f"-c lock_timeout={milliseconds} -c statement_timeout={4 * milliseconds}",
    }
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **options)


_engines: dict[tuple[str, float], Engine] = {}
_engines_lock = threading.Lock()


def get_engine(url: str | None = None, wait_seconds: float = DEFAULT_WAIT_SECONDS) -> Engine:
    """One engine (and pool) per database URL and wait for the life of the process."""
    key = (url or get_settings().DATABASE_URL, wait_seconds)
    with _engines_lock:
        if key not in _engines:
            _engines[key] = make_engine(*key)
        return _engines[key]


def _forget_parents_connections() -> None:
    """In a process just forked (Celery's pool processes): the engines' pooled connections are
    the parent's sockets, and two processes talking over one read each other's answers (a
    worker's pool processes shared the connection its start-up check had opened: "can't change
    'autocommit' now", rows of another process's query). Drop them without closing them; the
    parent goes on using its own."""
    global _engines_lock
    _engines_lock = threading.Lock()  # another thread may have held it at the fork
    for engine in _engines.values():
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_parents_connections)


def dispose_engines(url: str) -> None:
    """Close every pooled connection to this database (tests drop their databases)."""
    with _engines_lock:
        engines = [engine for (each, _), engine in _engines.items() if each == url]
    for engine in engines:
        engine.dispose()


def session_factory(
    url: str | None = None, wait_seconds: float = DEFAULT_WAIT_SECONDS
) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url, wait_seconds), expire_on_commit=False)


@contextmanager
def session_scope(
    url: str | None = None, wait_seconds: float = DEFAULT_WAIT_SECONDS
) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error; its connection waits up
    to `wait_seconds` for a lock or the server (see make_engine)."""
    session = session_factory(url, wait_seconds)()
    try:
        yield session
        session.commit()
    except BaseException:
        # Raised after the commit, by an after_commit hook (work run --inline stopped by
        # Ctrl-C), there is nothing left to roll back, and the first error is the one to tell.
        with suppress(InvalidRequestError):
            session.rollback()
        raise
    finally:
        session.close()


def _alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str | None = None) -> str:
    """Create or upgrade the database to the newest migration; returns the revision."""
    from alembic import command

    url = url or get_settings().DATABASE_URL
    check_connection(url)
    command.upgrade(_alembic_config(url), "head")
    return head_revision()


def check_connection(url: str) -> None:
    """Raise DatabaseUnavailable, in one line, when the database cannot be opened at all."""
    try:
        with get_engine(url).connect():
            pass
    except (DBAPIError, OSError) as exc:
        raise unavailable(url, exc) from None


def head_revision() -> str:
    """The newest migration, as alembic reads it from the migrations directory (slow)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first migration), in one query."""
    with engine.connect() as connection:
        try:
            versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
            found = sorted(versions.scalars())
        except DBAPIError:
            # Only a missing table means "not migrated yet"; anything else is a real error.
            connection.rollback()
            if inspect(connection).has_table(VERSION_TABLE):
                raise
            return None
    if len(found) > 1:
        raise NotMigrated(f"{VERSION_TABLE} holds more than one revision: {', '.join(found)}")
    return found[0] if found else None


def ensure_migrated(url: str | None = None) -> None:
    """Refuse a database that is not at HEAD_REVISION, without loading alembic (every CLI
    command runs this first, so it must be cheap)."""
    url = url or get_settings().DATABASE_URL
    check_connection(url)
    current = current_revision(get_engine(url))
    if current != HEAD_REVISION:
        state = "has no tables yet" if current is None else f"is at revision {current}"
        raise NotMigrated(
            f"{ENV_PREFIX}DATABASE_URL: the database {shown_url(url)} {state}; "
            "run `newsletter db upgrade` first."
        )

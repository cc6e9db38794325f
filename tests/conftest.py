"""Fixtures: real PostgreSQL and Redis on 127.0.0.1, and a fresh migrated database per test.

Database tests take the `db_url` fixture, which runs each of them on SQLite and on PostgreSQL.
Migrations run once per session into a template; each test gets a copy.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from newsletter import db
from newsletter.config import get_settings
from tests.support.servers import PostgresServer, RedisServer, postgres_server, redis_server

_counter = itertools.count()

# pytest-xdist's workers are started with COLUMNS=80, which rich reads when the CLI's consoles are
# made; without it they are as wide as a pipe gets. The CLI tests see the same either way.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    db.upgrade(f"sqlite:///{path}")
    db.get_engine(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresServer) -> str:
    admin = create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE newsletter_template"))
    admin.dispose()
    url = postgres.url("newsletter_template")
    db.upgrade(url)
    db.get_engine(url).dispose()
    return "newsletter_template"


def _postgres_copy(postgres: PostgresServer, template: str) -> str:
    name = f"test_{next(_counter)}"
    admin = create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {template}"))
    admin.dispose()
    return postgres.url(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """A freshly migrated database, on SQLite and on PostgreSQL; settings point at it."""
    if request.param == "sqlite":
        path = tmp_path / "newsletter.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = _postgres_copy(
            request.getfixturevalue("postgres"), request.getfixturevalue("postgres_template")
        )
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url)
    monkeypatch.setenv("NEWSLETTER_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NEWSLETTER_EMAIL_BACKEND", "memory")
    get_settings.cache_clear()
    yield url
    db.dispose_engines(url)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def every_email(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, bytes]:
    """One message of every kind, sent through the real pipeline on SQLite (see
    tests/support/every_email.py); made once per run for the tests that read them."""

    from tests.support.every_email import environment, send_every_kind

    folder = tmp_path_factory.mktemp("every-email")
    shutil.copy(sqlite_template, folder / "newsletter.db")
    url = f"sqlite:///{folder / 'newsletter.db'}"
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in list(os.environ):
            if name.startswith("NEWSLETTER_"):
                monkeypatch.delenv(name)
        environment(monkeypatch, url, folder / "var")
        try:
            return send_every_kind()
        finally:
            db.get_engine(url).dispose()
            get_settings.cache_clear()


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    with db.session_scope(db_url) as session:
        yield session


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's environment or writes into the working tree's var/."""

    for name in list(os.environ):
        if name.startswith("NEWSLETTER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NEWSLETTER_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{tmp_path}/default.db")
    # Tests run at any hour: the send window (which would hold their alerts at night and at
    # weekends) is on only in the tests of it.
    monkeypatch.setenv("NEWSLETTER_SEND_WINDOW_ENABLED", "false")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# --- What ran against which real server, printed at the end of every run -------------------
# The figures travel on each test's report (user_properties), so they add up the same whether
# the tests ran in this process or in pytest-xdist workers (`make test` runs them in two).

_SERVER_OUTCOMES: dict[str, dict[str, int]] = {}
# Lines a test leaves on its report under one of these names, printed under its title at the end.
_SUMMARY_TITLES = {
    "spamassassin": "SpamAssassin scores (tests/integration/rendering/test_email_spam.py)",
    "reliability": "reliability figures (tests/faults)",
}
_SUMMARY_LINES: dict[str, list[str]] = {name: [] for name in _SUMMARY_TITLES}


def _servers_used(item: pytest.Item) -> list[str]:
    names = set(getattr(item, "fixturenames", ()))
    callspec = getattr(item, "callspec", None)
    database = callspec.params.get("db_url") if callspec else None
    labels = []
    if database == "postgresql" or names & {"postgres", "postgres_template"}:
        labels.append("PostgreSQL")
    if database == "sqlite":
        labels.append("SQLite")
    if "redis" in names:
        labels.append("Redis")
    source = getattr(getattr(item, "function", None), "__code__", None)
    if source is not None and "celery_worker" in source.co_names:
        labels.append("Celery worker")
    return labels


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    from tests.support.spamassassin import REPORT

    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    report.user_properties.append(("servers", _servers_used(item)))
    if REPORT:
        report.user_properties.append(("spamassassin", list(REPORT)))
        REPORT.clear()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    properties = dict(report.user_properties)
    for name, lines in _SUMMARY_LINES.items():
        lines.extend(properties.get(name, []))
    if report.when == "call" or (report.when == "setup" and not report.passed):
        for label in properties.get("servers", []):
            outcomes = _SERVER_OUTCOMES.setdefault(label, {})
            outcomes[report.outcome] = outcomes.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, lines in _SUMMARY_LINES.items():
        if lines:
            terminalreporter.section(_SUMMARY_TITLES[name])
            for line in lines:
                terminalreporter.write_line(line)
    if not _SERVER_OUTCOMES:
        return
    terminalreporter.section("tests by real server used")
    for label in ("SQLite", "PostgreSQL", "Redis", "Celery worker"):
        outcomes = _SERVER_OUTCOMES.get(label, {})
        text = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
        terminalreporter.write_line(f"{label:>14}: {text or 'none'}")

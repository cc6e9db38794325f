"""PostgreSQL and Redis for the production run, fresh for each run (so each peak is that run's).

Unlike the test fixtures, PostgreSQL keeps its durable defaults (fsync, synchronous_commit,
full_page_writes on): the figures are meant for a real deployment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.support.servers import RedisServer, free_port, wait_for_port

DATABASE = "newsletter"


def _as_postgres(argv: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@dataclass(frozen=True)
class Postgres:
    port: int
    data_dir: Path

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int:
        """The postmaster's pid; its children are the backends and background workers."""
        return int((self.data_dir / "postmaster.pid").read_text().split()[0])

    def database_bytes(self, database: str = DATABASE) -> int:
        size = self._run("SELECT pg_database_size(current_database())", database)
        return int(size) if isinstance(size, int) else 0

    def analyze(self, database: str = DATABASE) -> None:
        """Planner statistics, as autovacuum keeps them on a database that has been running."""
        self._run("ANALYZE", database)

    def _run(self, sql: str, database: str) -> object:
        engine = create_engine(
            self.url(database).replace("postgresql:", "postgresql+psycopg:"),
            isolation_level="AUTOCOMMIT",
        )
        try:
            with engine.connect() as connection:
                result = connection.execute(text(sql))
                return result.scalar() if result.returns_rows else None
        finally:
            engine.dispose()


def _pg_ctl(data: Path, *args: str) -> None:
    subprocess.run(
        _as_postgres(["pg_ctl", "-D", str(data), "-w", "-t", "60", *args]),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
    )


@contextmanager
def postgres() -> Iterator[Postgres]:
    """A new cluster on a free port of 127.0.0.1 with an empty database `newsletter`."""
    if shutil.which("initdb") is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not on PATH")
    root = Path(tempfile.mkdtemp(prefix="newsletter-bench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    port = free_port()
    try:
        subprocess.run(
            _as_postgres(
                ["initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=120,
        )
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{root}'\nmax_connections = 100\n"
            )
        _pg_ctl(data, "start", "-l", str(root / "postgres.log"))
        server = Postgres(port, data)
        try:
            wait_for_port(port)
            admin = create_engine(
                server.url("postgres").replace("postgresql:", "postgresql+psycopg:"),
                isolation_level="AUTOCOMMIT",
            )
            with admin.connect() as connection:
                connection.execute(text(f"CREATE DATABASE {DATABASE}"))
            admin.dispose()
            yield server
        finally:
            _pg_ctl(data, "stop", "-m", "fast")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def redis() -> Iterator[RedisServer]:
    """A redis-server on a free port of 127.0.0.1, nothing persisted."""
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()

"""PostgreSQL and Redis for the production run, fresh for each run (so each peak is that run's).

Unlike the test fixtures, PostgreSQL keeps its durable defaults (fsync, synchronous_commit,
full_page_writes on): the figures are meant for a real deployment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

from tests.support.servers import PostgresServer, postgres_server, redis_server

DATABASE = "newsletter"


class Postgres(PostgresServer):
    """The test cluster, plus what the benchmark asks of it."""

    def url(self, database: str = DATABASE) -> str:
        return super().url(database)

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


@contextmanager
def postgres() -> Iterator[Postgres]:
    """A new durable cluster on a free port of 127.0.0.1 with an empty database `newsletter`."""
    with postgres_server(durable=True) as cluster:
        admin = create_engine(
            cluster.url("postgres").replace("postgresql:", "postgresql+psycopg:"),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {DATABASE}"))
        admin.dispose()
        yield Postgres(cluster.port, cluster.data_dir)


def load_pg_stat_statements(database: Postgres) -> None:
    """Restart the cluster with pg_stat_statements loaded, and create the extension."""
    with open(database.data_dir / "postgresql.conf", "a") as conf:
        conf.write("\nshared_preload_libraries = 'pg_stat_statements'\n")
    database.stop()
    database.start()
    admin = create_engine(
        database.url().replace("postgresql:", "postgresql+psycopg:"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text("CREATE EXTENSION pg_stat_statements"))
    admin.dispose()


redis = redis_server

"""How long the queries that look for a send's rows by status take on a big ledger: one send of
N members, half sent, 500 claimed, the rest pending, beside three older finished sends of N
rows; PostgreSQL logs each plan slower than 3 ms (auto_explain) into the work folder.

    nice -n 15 .venv/bin/python -m bench.ledger_queries 100000

To time another commit's queries, export it and run this file from there (ADR 0024):
`git archive COMMIT | tar -x -C DIR && cp bench/ledger_queries.py DIR/bench/ && cd DIR &&
PYTHONPATH=DIR nice -n 15 /path/to/.venv/bin/python -m bench.ledger_queries 100000`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from bench import commands, data, servers
from bench.sink import smtp_sink
from newsletter.config import get_settings
from newsletter.db import make_engine
from newsletter.models import Send

OLDER_SENDS = 3
PLANS = "\nsession_preload_libraries = 'auto_explain'\nauto_explain.log_min_duration = '3ms'\n"


def main(argv: list[str]) -> int:
    members = int(argv[0]) if argv else 100_000
    work = Path(tempfile.mkdtemp(prefix="newsletter-queries-"))
    print(f"work folder (plans in postgres.log): {work}", file=sys.stderr)
    with servers.postgres() as database, servers.redis() as broker, smtp_sink(work) as sink:
        with open(database.data_dir / "postgresql.conf", "a") as conf:
            conf.write(PLANS + "auto_explain.log_analyze = on\n")
        database.stop()
        database.start()
        env = commands.settings_env(work / "var", database.url(), broker.url, sink.port)
        os.environ.update(env)
        get_settings.cache_clear()
        commands.run(env, "db", "upgrade")
        engine = make_engine(database.url())
        try:
            send_id = _ledger(engine, database, env, members)
            _time_queries(engine, send_id, members)
        finally:
            engine.dispose()
            shutil.copy(database.data_dir.parent / "postgres.log", work / "postgres.log")
    return 0


def _ledger(engine: Engine, database: servers.Postgres, env: dict[str, str], members: int) -> int:
    """The digest's send fanned out by `digest run` (no worker: all pending), older sends beside,
    then half of it sent and 500 rows claimed."""
    data.populate(engine, members, datetime.now(UTC))
    database.analyze()
    commands.run(env, "digest", "run", "--frequency", "weekly", timeout=1800)
    half = members // 2
    with engine.begin() as connection:
        send_id = int(connection.execute(text("SELECT id FROM send")).scalar_one())
        for number in range(OLDER_SENDS):
            _older_send(connection, send_id, number)
        connection.execute(
            text(
                "UPDATE delivery SET status = 'sent', sent_at = now(), message_id = '<m@x>'"
                " WHERE send_id = :s AND member_id <= :h"
            ),
            {"s": send_id, "h": half},
        )
        connection.execute(
            text(
                "UPDATE delivery SET status = 'sending', claimed_at = now()"
                " WHERE send_id = :s AND member_id > :h AND member_id <= :h + 500"
            ),
            {"s": send_id, "h": half},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE delivery"))
    return send_id


def _older_send(connection: Connection, send_id: int, number: int) -> None:
    columns = [c.name for c in Send.__table__.columns if c.name not in ("id", "key", "status")]
    listed = ", ".join(columns)
    older = connection.execute(
        text(
            f"INSERT INTO send ({listed}, key, status) SELECT {listed}, key || :n, 'sent'"
            " FROM send WHERE id = :s RETURNING id"
        ),
        {"n": f"-older-{number}", "s": send_id},
    ).scalar_one()
    connection.execute(
        text(
            "INSERT INTO delivery (send_id, member_id, status, attempts, last_error, message_id,"
            " sent_at, content) SELECT :o, member_id, 'sent', 1, '', '<m@x>', now(), content"
            " FROM delivery WHERE send_id = :s"
        ),
        {"o": older, "s": send_id},
    )


def _time_queries(engine: Engine, send_id: int, members: int) -> None:
    from newsletter.delivery import fanout, ledger, progress
    from newsletter.observability.state import ledger_state

    now, settings = datetime.now(UTC), get_settings()
    _timed(engine, "complete_sends, half sent", lambda s: ledger.complete_sends(s, now, [send_id]))
    _timed(
        engine,
        "pending_batches, the first",
        lambda s: len(next(fanout.pending_batches(s, send_id, 250))),
    )
    _timed(
        engine,
        "pending_batches, all",
        lambda s: sum(1 for _ in fanout.pending_batches(s, send_id, 250)),
        1,
    )
    _timed(engine, "the sweep (recover)", lambda s: len(ledger.recover(s, now, settings)))
    _timed(engine, "sends show (describe_send)", lambda s: progress.describe_send(s, send_id))
    _timed(engine, "newsletter status (ledger_state)", lambda s: ledger_state(s, now, settings))
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE delivery SET status = 'sent' WHERE send_id = :s AND member_id < :n"),
            {"s": send_id, "n": members - 300},
        )
    _timed(engine, "complete_sends, 300 left", lambda s: ledger.complete_sends(s, now, [send_id]))
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE delivery SET status = 'sent' WHERE send_id = :s"), {"s": send_id}
        )
    _timed(engine, "complete_sends, all sent", lambda s: ledger.complete_sends(s, now, [send_id]))


def _timed(engine: Engine, name: str, query: Callable[[Session], Any], repeat: int = 5) -> None:
    """Median ms of `query` in its own session, rolled back each time."""
    times = []
    for _ in range(repeat):
        with Session(engine) as session:
            began = time.perf_counter()
            query(session)
            times.append((time.perf_counter() - began) * 1000)
            session.rollback()
    print(f"  {name}: {statistics.median(times):.1f} ms", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

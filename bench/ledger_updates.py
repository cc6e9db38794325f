"""What a production send costs PostgreSQL per message, and how many of the ledger's updates are
HOT: `digest run` and a 2-process worker on PostgreSQL + Redis against smtp-sink, with
pg_stat_statements loaded and the table statistics read once the worker has stopped.

    nice -n 15 .venv/bin/python -m bench.ledger_updates --sizes 10000
    nice -n 15 .venv/bin/python -m bench.ledger_updates --sizes 10000 --code /tmp/before

`--code DIR` (repeatable) runs the commands from other checkouts of the product too (e.g. an
export of an older commit: `git archive COMMIT | tar -x -C DIR`), one after the other in the same
run, so that figures from a noisy machine are compared side by side. The schema is each
checkout's own (`db upgrade` from it). Not part of `make bench`: it measures one thing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

from bench import commands, data, servers
from bench.processes import TICKS, PeakSampler, children_by_parent, cpu_by_role, with_descendants
from bench.sink import smtp_sink

THIS_CODE = "this"
STATEMENTS_SHOWN = 14


@dataclass
class Figures:
    code: str
    members: int
    seconds: float
    cpu_ms: dict[str, float]  # role -> CPU milliseconds a message
    postgres_ms: dict[str, float]  # PostgreSQL's share by kind of process (backends, WAL...)
    updates: int
    hot_updates: int
    inserts: int
    heap_mb: float
    index_mb: float
    sessions: int  # connections opened to the database during the run
    sessions_ended: int  # of which PostgreSQL ended (a hold left idle: ADR 0014) or failed
    statements: list[dict[str, Any]]

    @property
    def hot_share(self) -> float:
        return self.hot_updates / self.updates if self.updates else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger_updates")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000], metavar="N")
    parser.add_argument("--code", action="append", default=[], metavar="DIR")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--fillfactor", type=int, nargs="+", default=[0], help="Also try these (0: as migrated)."
    )
    args = parser.parse_args(argv)
    codes = [*args.code, THIS_CODE]
    found = []
    folder = Path(tempfile.mkdtemp(prefix="newsletter-ledger-"))
    print(f"work folder (logs, kept): {folder}", file=sys.stderr)
    runs = [
        (size, code, fill, round_)
        for size in args.sizes
        for round_ in range(args.rounds)
        for code in codes
        for fill in args.fillfactor
    ]
    for size, code, fill, round_ in runs:
        name = f"{Path(code).name}-ff{fill}-{size}-{round_}"
        figures = measure(code, size, folder / name, fill)
        print(describe(figures), flush=True)
        found.append(figures)
    print("\nsummary (CPU ms a message: PostgreSQL, worker, broker, digest run; HOT share):")
    for f in found:
        cpu = ", ".join(f"{role} {ms:.3f}" for role, ms in f.cpu_ms.items())
        print(
            f"  {f.code} N={f.members:,}: {cpu}; all {sum(f.cpu_ms.values()):.3f}; "
            f"HOT {f.hot_share:.0%}; heap {f.heap_mb:.0f} MB, indexes {f.index_mb:.0f} MB"
        )
    return 0


def measure(code: str, members: int, workdir: Path, fillfactor: int = 0) -> Figures:
    workdir.mkdir(parents=True)
    now = datetime.now(UTC)
    with ExitStack() as stack:
        sink = stack.enter_context(smtp_sink(workdir))
        database = stack.enter_context(servers.postgres())
        servers.load_pg_stat_statements(database)
        log = database.data_dir.parent / "postgres.log"
        stack.callback(lambda: (workdir / "postgres.log").write_bytes(log.read_bytes()))
        broker = stack.enter_context(servers.redis())
        assert broker.process is not None
        env = commands.settings_env(workdir / "var", database.url(), broker.url, sink.port)
        if code != THIS_CODE:
            env["PYTHONPATH"] = str(Path(code).resolve())
        commands.run(env, "db", "upgrade")
        engine = create_engine(database.url().replace("postgresql:", "postgresql+psycopg:"))
        stack.callback(engine.dispose)
        if fillfactor:
            with engine.begin() as connection:
                connection.execute(text(f"ALTER TABLE delivery SET (fillfactor = {fillfactor})"))
        data.populate(engine, members, now)
        database.analyze()
        _reset_statistics(engine)
        roots = {"postgres": database.pid, "broker": broker.process.pid}
        engine.dispose()  # the connection that wrote the members: not part of the run
        with _Sampler(roots, database.pid) as sampler:
            began = time.monotonic()
            with commands.worker(env, workdir / "worker.log", 2) as worker:
                sampler.watch("worker", worker.pid)
                digest = commands.start(
                    env, workdir / "digest.log", "digest", "run", "--frequency", "weekly"
                )
                sampler.watch("digest run", digest.pid)
                _wait_for_send(engine, members, began + 120 + members / 50)
                seconds = time.monotonic() - began
                digest.wait(timeout=60)
            sampler.sample()  # the backends flushed their statistics as they exited
        figures = _table_figures(engine)
        statements = _statements(engine)
    cpu = cpu_by_role(sampler.peaks())
    kinds: dict[str, float] = {}
    for peak in sampler.peaks():
        if peak.role.startswith("postgres"):
            kind = sampler.kind(peak.pid)
            kinds[kind] = kinds.get(kind, 0.0) + peak.cpu_seconds * 1000 / members
    user, system = sampler.user_and_system()
    kinds["(user)"], kinds["(kernel)"] = user * 1000 / members, system * 1000 / members
    roles = {"postgres": 0.0, "worker": 0.0, "broker": 0.0, "digest run": 0.0}
    for role, used in cpu.items():
        roles[role.removesuffix(" child")] += used * 1000 / members
    label = f"{code} (fillfactor {fillfactor})" if fillfactor else code
    return Figures(label, members, seconds, roles, kinds, statements=statements, **figures)


class _Sampler(PeakSampler):
    """PeakSampler, plus what each PostgreSQL process is, from the title it sets (`postgres:
    walwriter`, a backend's `postgres: USER DATABASE HOST idle`), and its CPU time in user
    space and in the kernel, read while it runs."""

    KINDS = ("walwriter", "checkpointer", "background writer", "autovacuum", "stats", "logical")

    def __init__(self, roots: dict[str, int], postmaster: int) -> None:
        super().__init__(roots)
        self._postmaster = postmaster
        self._seen: dict[int, str] = {}
        self.times: dict[int, tuple[float, float]] = {}
        # As PeakSampler's: what each process had used before the run is not the run's.
        self._times_before: dict[int, tuple[float, float]] = {}

    def __enter__(self) -> _Sampler:
        for pid in with_descendants(self._postmaster, children_by_parent()):
            self._read_times(pid)
        self._times_before = dict(self.times)
        super().__enter__()
        return self

    def sample(self) -> None:
        super().sample()
        for pid in with_descendants(self._postmaster, children_by_parent()):
            self._read_times(pid)
            if pid not in self._seen:
                try:
                    title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                except OSError:
                    continue
                self._seen[pid] = title

    def _read_times(self, pid: int) -> None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return
        self.times[pid] = (int(fields[11]) / TICKS, int(fields[12]) / TICKS)

    def user_and_system(self) -> tuple[float, float]:
        """CPU seconds in user space and in the kernel (fsync, sockets) of all processes."""
        zero = (0.0, 0.0)
        used = [
            (
                user - self._times_before.get(pid, zero)[0],
                kernel - self._times_before.get(pid, zero)[1],
            )
            for pid, (user, kernel) in self.times.items()
        ]
        return sum(u for u, _ in used), sum(k for _, k in used)

    def kind(self, pid: int) -> str:
        title = self._seen.get(pid, "")
        if pid == self._postmaster:
            return "postmaster"
        found = next((k for k in self.KINDS if k in title), None)
        if found:
            return found
        return "backends" if f" {servers.DATABASE} " in title else "other"


def _reset_statistics(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_stat_reset(), pg_stat_statements_reset()"))


def _wait_for_send(engine: Engine, members: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            done = connection.execute(
                text("SELECT count(*) FROM send WHERE status IN ('sent', 'failed')")
            ).scalar()
        if done:
            with engine.connect() as connection:
                sent = connection.execute(
                    text("SELECT count(*) FROM delivery WHERE status = 'sent'")
                ).scalar()
            if sent != members:
                raise RuntimeError(f"{sent} sent, not {members}")
            return
        time.sleep(0.2)
    raise TimeoutError("the send did not finish in time")


def _table_figures(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_stat_force_next_flush()"))
        row = connection.execute(
            text(
                "SELECT n_tup_upd, n_tup_hot_upd, n_tup_ins,"
                " pg_relation_size('delivery'), pg_indexes_size('delivery')"
                " FROM pg_stat_user_tables WHERE relname = 'delivery'"
            )
        ).one()
        sessions = connection.execute(
            text(
                "SELECT sessions, sessions_fatal + sessions_killed FROM pg_stat_database"
                " WHERE datname = current_database()"
            )
        ).one()
    return {
        "sessions": sessions[0],
        "sessions_ended": sessions[1],
        "updates": row[0],
        "hot_updates": row[1],
        "inserts": row[2],
        "heap_mb": row[3] / 1e6,
        "index_mb": row[4] / 1e6,
    }


def _statements(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT calls, rows, total_exec_time, wal_bytes, shared_blks_dirtied,"
                " left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS query"
                " FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT :n"
            ),
            {"n": STATEMENTS_SHOWN},
        ).mappings()
        found = [dict(r) for r in rows]
        total = connection.execute(
            text(
                "SELECT sum(calls), sum(rows), sum(total_exec_time), sum(wal_bytes),"
                " sum(shared_blks_dirtied), 'all statements' FROM pg_stat_statements"
            )
        ).one()
        keys = ("calls", "rows", "total_exec_time", "wal_bytes", "shared_blks_dirtied", "query")
        return [*found, dict(zip(keys, total, strict=True))]


def describe(f: Figures) -> str:
    lines = [
        f"{f.code}, N={f.members:,}: {f.seconds:.1f} s; delivery: {f.inserts:,} inserted, "
        f"{f.updates:,} updated, {f.hot_updates:,} HOT ({f.hot_share:.0%}); "
        f"heap {f.heap_mb:.1f} MB, indexes {f.index_mb:.1f} MB; {f.sessions} connections "
        f"({f.sessions_ended} ended by the server)",
        "  CPU ms a message: " + ", ".join(f"{r} {ms:.3f}" for r, ms in f.cpu_ms.items()),
        "  PostgreSQL's: " + ", ".join(f"{k} {ms:.3f}" for k, ms in f.postgres_ms.items()),
        "  statements by time (calls, rows, ms, WAL kB, blocks dirtied):",
    ]
    for s in f.statements:
        lines.append(
            f"    {s['calls']:>7} {s['rows']:>7} {s['total_exec_time']:>8.0f} "
            f"{int(s['wal_bytes']) // 1024:>7} {s['shared_blks_dirtied']:>6}  {s['query']}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

"""Ours: `newsletter digest run` and a `newsletter worker` with 2 processes, sending to the sink.

Two set-ups: the embedded default (SQLite, the embedded broker) and production (PostgreSQL,
Redis), each with fresh servers and a fresh database per run. The clock starts when `digest run`
is launched and stops at the last delivery's `sent_at`, written once the sink accepted it; the
run is over when every one of the N deliveries is `sent`.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from subprocess import Popen

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bench import commands, data, servers
from bench.processes import PeakSampler, ProcessPeak
from bench.profile import recording
from bench.sink import smtp_sink
from newsletter.db import make_engine
from newsletter.delivery.progress import describe_send
from newsletter.models import Delivery, DeliveryStatus, Send, SendKind, SendStatus

SETUPS = ("embedded", "production")
WORKER_PROCESSES = 2
FINISHED = (SendStatus.SENT, SendStatus.FAILED)


@dataclass
class OursRun:
    setup: str
    members: int
    seconds: float  # `digest run` launched -> last message accepted by the sink
    fanout_seconds: float  # the digest's transaction: send created -> all N rows committed
    digest_command_seconds: float  # the `digest run` process, start to exit
    peaks: list[ProcessPeak]
    database_bytes: int
    broker_bytes: int | None  # the embedded broker's SQLite file
    sends_show_ms: float  # `newsletter sends show ID --json`, the whole command
    sends_show_query_ms: float  # describe_send itself, in this process, warm
    sink_accepted: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.members / self.seconds


@dataclass
class _Timing:
    send_id: int
    seconds: float
    fanout_seconds: float
    command_seconds: float
    command_peak: ProcessPeak
    counts: dict[str, int]


def run_ours(
    setup: str, members: int, workdir: Path, now: datetime, profile: bool = False
) -> OursRun:
    workdir.mkdir(parents=True, exist_ok=True)
    var_dir = workdir / "var"
    with ExitStack() as stack:
        sink = stack.enter_context(smtp_sink(workdir))
        roots = {"sink": sink.pid}
        if setup == "production":
            database = stack.enter_context(servers.postgres())
            broker = stack.enter_context(servers.redis())
            assert broker.process is not None
            roots.update({"database": database.pid, "broker": broker.process.pid})
            url, broker_url = database.url(), broker.url
        else:
            url, broker_url = f"sqlite:///{var_dir / 'newsletter.db'}", "embedded"
        env = commands.settings_env(var_dir, url, broker_url, sink.port)
        commands.run(env, "db", "upgrade")
        engine = stack.enter_context(_engine(url))
        data.populate(engine, members, now)
        if setup == "production":
            # Fresh tables have no statistics until autovacuum's next round (up to a minute);
            # a database in service has them, and without them PostgreSQL picks plans that
            # read every member once per chunk of the digest run.
            database.analyze()
        with (
            commands.worker(env, workdir / "worker.log", WORKER_PROCESSES) as worker,
            PeakSampler({**roots, "worker": worker.pid}) as sampler,
            ExitStack() as profiling,
        ):
            if profile:
                name = f"{setup}-{members}-worker"
                profiling.enter_context(recording(worker.pid, name, focus="deliver_batch"))
            timing = _digest(env, engine, members, workdir, profile)
        peaks = [*sampler.peaks(), timing.command_peak]
        show_ms, shown = commands.time_sends_show(env, timing.send_id)
        if shown["counts"]["sent"] != members:
            raise RuntimeError(f"sends show disagrees with the ledger: {shown['counts']}")
        query_ms = _time_describe(engine, timing.send_id)
        database_bytes = database.database_bytes() if setup == "production" else _sqlite_bytes(url)
        broker_file = var_dir / "broker.sqlite"
    return OursRun(
        setup=setup,
        members=members,
        seconds=timing.seconds,
        fanout_seconds=timing.fanout_seconds,
        digest_command_seconds=timing.command_seconds,
        peaks=peaks,
        database_bytes=database_bytes,
        broker_bytes=_file_bytes(broker_file) if setup == "embedded" else None,
        sends_show_ms=show_ms,
        sends_show_query_ms=query_ms,
        sink_accepted=sink.accepted(),
        counts=timing.counts,
    )


@contextmanager
def _engine(url: str) -> Iterator[Engine]:
    """A database engine for this process, disposed of when the block ends."""
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _digest(
    env: dict[str, str], engine: Engine, members: int, workdir: Path, profile: bool
) -> _Timing:
    """Launch `digest run`, watch the ledger until all N are sent; bounded in time."""
    began = time.time()
    command = commands.start(
        env, workdir / "digest-run.log", "digest", "run", "--frequency", "weekly"
    )
    deadline = time.monotonic() + 120 + members / 50
    with ExitStack() as stack:
        stack.callback(commands.stop, command, 10)
        if profile:
            name = f"{workdir.name}-digest-run"
            stack.enter_context(recording(command.pid, name, focus="run (newsletter/cli/digest.py"))
        send_id, fanout = _wait_for_fanout(engine, command, deadline)
        command_seconds, command_peak = _wait_for_exit(command, began, deadline)
        counts = _wait_for_send(engine, send_id, members, deadline)
        with Session(engine) as session:
            last = session.scalar(
                select(func.max(Delivery.sent_at)).where(Delivery.send_id == send_id)
            )
        assert last is not None
        return _Timing(
            send_id, last.timestamp() - began, fanout, command_seconds, command_peak, counts
        )


def _wait_for_fanout(engine: Engine, command: Popen[bytes], deadline: float) -> tuple[int, float]:
    """The send's id once its Delivery rows are committed (all at once), and how long that
    took from the moment the send was created (Send.started_at)."""
    while True:
        exited = _has_exited(command)
        with Session(engine) as session:
            row = session.execute(
                select(Send.id, Send.started_at).where(Send.kind == SendKind.DIGEST)
            ).first()
        seen = time.time()
        if row is not None:
            assert row.started_at is not None
            return row.id, seen - row.started_at.timestamp()
        if exited:
            raise RuntimeError("`newsletter digest run` ended without creating a digest")
        _check(deadline, "the digest's deliveries to be written")
        time.sleep(0.05)


def _has_exited(command: Popen[bytes]) -> bool:
    """Whether it has ended, without reaping it (its rusage is read later)."""
    flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
    return os.waitid(os.P_PID, command.pid, flags) is not None


def _wait_for_exit(
    command: Popen[bytes], began: float, deadline: float
) -> tuple[float, ProcessPeak]:
    """The `digest run` process's wall time and peak RSS (from the kernel's rusage)."""
    while True:
        pid, status, usage = os.wait4(command.pid, os.WNOHANG)
        if pid:
            command.returncode = os.waitstatus_to_exitcode(status)
            if command.returncode != 0:
                raise RuntimeError(f"`newsletter digest run` exited with {command.returncode}")
            cpu = usage.ru_utime + usage.ru_stime
            peak = ProcessPeak("digest run", pid, "newsletter", usage.ru_maxrss / 1024, cpu)
            return time.time() - began, peak
        _check(deadline, "`newsletter digest run` to exit")
        time.sleep(0.05)


def _wait_for_send(engine: Engine, send_id: int, members: int, deadline: float) -> dict[str, int]:
    """Poll the send's status (one row, cheap) until it is finished; then count its rows."""
    while True:
        with Session(engine) as session:
            status = session.scalar(select(Send.status).where(Send.id == send_id))
        if status in FINISHED:
            break
        _check(deadline, f"send {send_id} to finish")
        time.sleep(0.2)
    with Session(engine) as session:
        counts = {
            DeliveryStatus(s).value: n
            for s, n in session.execute(
                select(Delivery.status, func.count())
                .where(Delivery.send_id == send_id)
                .group_by(Delivery.status)
            )
        }
    if counts.get("sent") != members:
        raise RuntimeError(f"send {send_id} finished with {counts}, not {members} sent")
    return counts


def _check(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise TimeoutError(f"gave up waiting for {what}")


def _time_describe(engine: Engine, send_id: int, repeat: int = 5) -> float:
    """Median ms of describe_send, the query behind `sends show`, on a warm connection."""
    times = []
    for _ in range(repeat + 1):
        with Session(engine) as session:
            began = time.perf_counter()
            describe_send(session, send_id)
            times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times[1:])


def _sqlite_bytes(url: str) -> int:
    path = Path(url.removeprefix("sqlite:///"))
    return sum(_file_bytes(Path(f"{path}{suffix}")) for suffix in ("", "-wal"))


def _file_bytes(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0

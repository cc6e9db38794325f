"""Ours: `newsletter digest run` and a `newsletter worker` with 2 processes, sending to the sink.

Three set-ups: the embedded default (SQLite, the embedded broker), production (PostgreSQL,
Redis), and production with the web app under load while the send runs (bench/web_load.py);
each with fresh servers and a fresh database per run. The clock starts when `digest run` is
launched; the first email is the sink's first accepted message (sink.MessageWatch); the clock
stops at the last delivery's `sent_at`, written once the sink accepted it; the run is over when
every one of the N deliveries is `sent`. CPU is counted from the launch to then. After it (but
with the web load), a breaking alert is published with `newsletter articles publish` to the
members of one topic, timed the same way.
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

from bench import commands, data, servers, web_load
from bench.latency import Request, RouteLatency, summarise
from bench.processes import PeakSampler, ProcessPeak, cpu_by_group
from bench.profile import recording
from bench.sink import MessageWatch, Sink, smtp_sink
from newsletter import recent
from newsletter.db import make_engine
from newsletter.delivery.progress import describe_send
from newsletter.models import (
    Delivery,
    DeliveryStatus,
    Member,
    Send,
    SendKind,
    SendStatus,
    Subscription,
)

SETUPS = ("embedded", "production", "production-web")
WORKER_PROCESSES = 2
FINISHED = (SendStatus.SENT, SendStatus.FAILED)
SENDS_SHOW_RUNS = 5


@dataclass
class AlertRun:
    """The breaking alert published after the digest, to the members of data.ALERT_TOPIC."""

    recipients: int
    first_email_seconds: float  # `articles publish` launched -> first alert message accepted
    seconds: float  # launched -> last alert message accepted
    cpu: dict[str, float]  # CPU seconds by group (processes.CPU_GROUPS) while it ran

    @property
    def rate(self) -> float:
        return self.recipients / self.seconds


@dataclass
class WebRun:
    """The web load while the digest was being sent."""

    users: int
    wait_seconds: tuple[float, float]  # each client's pause between requests, drawn uniformly
    routes: dict[str, RouteLatency]  # requests started while the send ran
    cpu: dict[str, float]  # CPU seconds of the web app and of the load generator meanwhile
    one_clicks: int  # answered 200 or 202 over the whole load, not only while the send ran
    # Members of the one-click links who now follow no topic (a POST cut off as the load stopped
    # may count here and not above).
    unsubscribed: int


@dataclass
class OursRun:
    setup: str
    members: int
    seconds: float  # `digest run` launched -> last message accepted by the sink
    first_email_seconds: float  # `digest run` launched -> first message accepted by the sink
    fanout_seconds: float  # send created -> all N ledger rows committed
    digest_command_seconds: float  # the `digest run` process, start to exit
    peaks: list[ProcessPeak]  # every process's peak RSS (the whole run) and CPU (the digest)
    cpu: dict[str, float]  # CPU seconds by group (processes.CPU_GROUPS) during the digest
    database_bytes: int
    broker_bytes: int | None  # the embedded broker's SQLite file
    sends_show_ms: float  # `newsletter sends show ID --json`, the whole command: the median
    sends_show_runs_ms: list[float]
    sends_show_query_ms: float  # describe_send itself, in this process, warm
    sink_accepted: int
    counts: dict[str, int] = field(default_factory=dict)
    alert: AlertRun | None = None
    web: WebRun | None = None

    @property
    def rate(self) -> float:
        return self.members / self.seconds

    @property
    def cpu_ms_per_message(self) -> float:
        return sum(self.cpu.values()) / self.members * 1000


@dataclass
class _Timing:
    send_id: int
    began: float
    seconds: float
    first_email_seconds: float
    fanout_seconds: float
    command_seconds: float
    command_peak: ProcessPeak
    counts: dict[str, int]


def run_ours(
    setup: str,
    members: int,
    workdir: Path,
    now: datetime,
    profile: bool = False,
    web_wait: tuple[float, float] = web_load.WAIT_SECONDS,
) -> OursRun:
    workdir.mkdir(parents=True, exist_ok=True)
    var_dir = workdir / "var"
    production = setup != "embedded"
    with ExitStack() as stack:
        sink = stack.enter_context(smtp_sink(workdir))
        roots = {"sink": sink.pid}
        if production:
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
        web_members = data.add_web_members(engine, members, now)
        alert_article = data.add_breaking_draft(engine, now)
        if production:
            # Fresh tables have no statistics until autovacuum's next round (up to a minute);
            # a database in service has them, and without them PostgreSQL picks plans that
            # read every member once per chunk of the digest run.
            database.analyze()
        with ExitStack() as running:
            worker = running.enter_context(
                commands.worker(env, workdir / "worker.log", WORKER_PROCESSES)
            )
            roots["worker"] = worker.pid
            load = None
            if setup == "production-web":
                plan = web_load.write_plan(engine, members, web_members, workdir, web_wait)
                web_url, web_app = running.enter_context(web_load.web_app(env, workdir))
                load = running.enter_context(
                    web_load.load(plan, web_url, workdir, _patience(members))
                )
                load.wait_until_ready()
                roots.update({"web": web_app.pid, "load generator": load.pid})
            sampler = running.enter_context(PeakSampler(roots))
            if profile:
                name = f"{setup}-{members}-worker"
                running.enter_context(recording(worker.pid, name, focus="deliver_batch"))
            timing = _digest(env, engine, sink, members, workdir, profile, load)
            digest_peaks = [*sampler.snapshot(), timing.command_peak]
            web = None
            if load is not None:
                requests = load.finish()
                web = _web_run(requests, timing, engine, web_members, digest_peaks, web_wait)
            alert = None
            if load is None:
                alert = _alert(env, engine, sink, members, alert_article, sampler, digest_peaks)
            peaks = _whole_run(sampler.snapshot(), digest_peaks, timing.command_peak)
        show_runs, shown = commands.time_sends_show(env, timing.send_id, SENDS_SHOW_RUNS)
        if shown["counts"]["sent"] != members:
            raise RuntimeError(f"sends show disagrees with the ledger: {shown['counts']}")
        query_ms = _time_describe(engine, timing.send_id)
        database_bytes = database.database_bytes() if production else _sqlite_bytes(url)
        broker_file = var_dir / "broker.sqlite"
    return OursRun(
        setup=setup,
        members=members,
        seconds=timing.seconds,
        first_email_seconds=timing.first_email_seconds,
        fanout_seconds=timing.fanout_seconds,
        digest_command_seconds=timing.command_seconds,
        peaks=peaks,
        cpu=cpu_by_group(digest_peaks),
        database_bytes=database_bytes,
        broker_bytes=_file_bytes(broker_file) if setup == "embedded" else None,
        sends_show_ms=statistics.median(show_runs),
        sends_show_runs_ms=show_runs,
        sends_show_query_ms=query_ms,
        sink_accepted=sink.accepted(),
        counts=timing.counts,
        alert=alert,
        web=web,
    )


def _whole_run(
    now: list[ProcessPeak], digest: list[ProcessPeak], command: ProcessPeak
) -> list[ProcessPeak]:
    """Each process's peak RSS over the whole run, with its CPU during the digest."""
    cpu = {peak.pid: peak.cpu_seconds for peak in digest}
    return [ProcessPeak(p.role, p.pid, p.name, p.peak_mb, cpu.get(p.pid, 0.0)) for p in now] + [
        command
    ]


def _web_run(
    requests: list[Request],
    timing: _Timing,
    engine: Engine,
    web_members: range,
    peaks: list[ProcessPeak],
    wait: tuple[float, float],
) -> WebRun:
    """The routes' latency while the send ran; and a check that the one-clicks took effect."""
    routes = summarise(requests, timing.began, timing.began + timing.seconds)
    one_clicks = sum(r.route == "one-click" and r.ok for r in requests)
    with Session(engine) as session:
        following = select(Subscription.member_id).distinct()
        unsubscribed = session.scalar(
            select(func.count())
            .select_from(Member)
            .where(Member.id.between(web_members.start, web_members.stop - 1))
            .where(Member.id.not_in(following))
        )
    if one_clicks and not unsubscribed:
        raise RuntimeError(f"{one_clicks} one-click POSTs were answered, yet nobody left")
    cpu = _web_cpu(peaks)
    return WebRun(web_load.USERS, wait, routes, cpu, one_clicks, unsubscribed or 0)


def _web_cpu(peaks: list[ProcessPeak]) -> dict[str, float]:
    roles = ("web", "web child", "load generator")
    return {role: sum(p.cpu_seconds for p in peaks if p.role == role) for role in roles}


def _patience(members: int) -> float:
    """How long to wait for a run of this many messages before giving up."""
    return 120 + members / 50


@contextmanager
def _engine(url: str) -> Iterator[Engine]:
    """A database engine for this process, disposed of when the block ends."""
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _digest(
    env: dict[str, str],
    engine: Engine,
    sink: Sink,
    members: int,
    workdir: Path,
    profile: bool,
    load: web_load.Load | None,
) -> _Timing:
    """Launch `digest run`, watch the sink and the ledger until all N are sent; bounded in time."""
    first = MessageWatch(sink, after=0)
    began = time.time()
    command = commands.start(
        env, workdir / "digest-run.log", "digest", "run", "--frequency", "weekly"
    )
    deadline = time.monotonic() + _patience(members)
    with ExitStack() as stack:
        stack.callback(first.stop)
        stack.callback(commands.stop, command, 10)
        if profile:
            name = f"{workdir.name}-digest-run"
            stack.enter_context(recording(command.pid, name, focus="run (newsletter/cli/digest.py"))
        send_id, created = _wait_for_digest_send(engine, command, deadline)
        if load is not None:
            load.name_send(send_id)
        fanout = _wait_for_rows(engine, send_id, members, deadline) - created
        command_seconds, command_peak = _wait_for_exit(command, began, deadline)
        counts = _wait_for_send(engine, send_id, members, deadline)
        first_at = first.wait(timeout=10)
        last = _last_sent_at(engine, send_id)
        return _Timing(
            send_id,
            began,
            last - began,
            first_at - began,
            fanout,
            command_seconds,
            command_peak,
            counts,
        )


def _alert(
    env: dict[str, str],
    engine: Engine,
    sink: Sink,
    members: int,
    article_id: int,
    sampler: PeakSampler,
    before: list[ProcessPeak],
) -> AlertRun:
    """Publish the breaking draft; time its alert to the first and the last message."""
    recipients = data.alert_recipients(members)
    deadline = time.monotonic() + _patience(recipients)
    first = MessageWatch(sink, after=members)
    try:
        began = time.time()
        commands.run(env, "articles", "publish", str(article_id))
        send_id = _wait_for_alert_send(engine, article_id, deadline)
        _wait_for_send(engine, send_id, recipients, deadline)
        first_at = first.wait(timeout=10)
    finally:
        first.stop()
    after = cpu_by_group(sampler.snapshot())
    used = cpu_by_group(before)
    cpu = {group: after[group] - used[group] for group in after if group != "digest run"}
    last = _last_sent_at(engine, send_id)
    return AlertRun(recipients, first_at - began, last - began, cpu)


def _wait_for_digest_send(
    engine: Engine, command: Popen[bytes], deadline: float
) -> tuple[int, float]:
    """The digest's send once it exists, and when it was created (Send.started_at; the moment
    it was first seen, should the send not say)."""
    while True:
        exited = _has_exited(command)
        with Session(engine) as session:
            row = session.execute(
                select(Send.id, Send.started_at).where(Send.kind == SendKind.DIGEST)
            ).first()
        seen = time.time()
        if row is not None:
            return row.id, row.started_at.timestamp() if row.started_at else seen
        if exited:
            raise RuntimeError("`newsletter digest run` ended without creating a digest")
        _check(deadline, "the digest's send to be created")
        time.sleep(0.05)


def _wait_for_rows(engine: Engine, send_id: int, members: int, deadline: float) -> float:
    """When all N ledger rows of the send were seen committed: all at once, or chunk by chunk
    while the first are being sent. Counted less often as the wait grows (~2% of it), so that
    counting does not weigh on a large run."""
    began = time.monotonic()
    while True:
        with Session(engine) as session:
            written = session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.send_id == send_id)
            )
        if written == members:
            return time.time()
        _check(deadline, f"the {members:,} deliveries of send {send_id} to be written")
        time.sleep(max(0.1, 0.02 * (time.monotonic() - began)))


def _wait_for_alert_send(engine: Engine, article_id: int, deadline: float) -> int:
    while True:
        with Session(engine) as session:
            send_id = session.scalar(
                select(Send.id).where(Send.kind == SendKind.ALERT, Send.article_id == article_id)
            )
        if send_id is not None:
            return send_id
        _check(deadline, f"article {article_id}'s alert to be created")
        time.sleep(0.05)


def _last_sent_at(engine: Engine, send_id: int) -> float:
    with Session(engine) as session:
        last = session.scalar(select(func.max(Delivery.sent_at)).where(Delivery.send_id == send_id))
    assert last is not None
    return last.timestamp()


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
        recent.forget()  # `sends show` runs in a process of its own: nothing kept (ADR 0025)
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

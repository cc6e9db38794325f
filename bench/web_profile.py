"""The web app's CPU a request under the bench's locust load, with no send running, and a
py-spy profile of one web process: what `make bench`'s web-load run costs, measured quietly.

    .venv/bin/python -m bench.web_profile --members 10000 --seconds 40

Only 127.0.0.1. Prints requests, the web processes' and PostgreSQL's CPU a request, new
database sessions a second, and writes the profile (py-spy raw, for flamegraph.pl or
speedscope) under bench/results/profiles/.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, text

from bench import commands, data, servers, web_load
from bench.latency import Request, summarise
from bench.processes import children_by_parent, with_descendants
from bench.sink import smtp_sink
from newsletter.db import make_engine

PROFILES = Path(__file__).parent / "results" / "profiles"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=40)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with (
        tempfile.TemporaryDirectory(prefix="web-profile-") as tmp,
        smtp_sink(Path(tmp)) as sink,
        servers.postgres() as database,
        servers.redis() as broker,
    ):
        workdir = Path(tmp)
        servers.load_pg_stat_statements(database)
        env = commands.settings_env(workdir / "var", database.url(), broker.url, sink.port)
        commands.run(env, "db", "upgrade")
        engine = make_engine(database.url())
        data.populate(engine, args.members, now)
        web_members = data.add_web_members(engine, args.members, now)
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        commands.run(env, "digest", "run", "--frequency", "weekly")  # a send, no worker
        with engine.connect() as connection:
            send_id = connection.execute(text("SELECT max(id) FROM send")).scalar_one()
        plan = web_load.write_plan(engine, args.members, web_members, workdir)
        with (
            web_load.web_app(env, workdir) as (url, web),
            web_load.load(plan, url, workdir, args.seconds + 120) as load,
        ):
            load.wait_until_ready()
            load.name_send(send_id)
            time.sleep(3)
            before = _cpu(web.pid, database.pid)
            sessions_before = _sessions(engine)
            with engine.begin() as connection:
                connection.execute(text("SELECT pg_stat_statements_reset()"))
            began = time.time()
            profile = _profile(web.pid, args.seconds)
            ended = time.time()
            after = _cpu(web.pid, database.pid)
            sessions = _sessions(engine) - sessions_before
            statements = _statements(engine)
            requests = load.finish()
        counted = [r for r in requests if r.route != "sign-in" and began <= r.started <= ended]
        _report(counted, ended - began, before, after, sessions, profile)
        print("PostgreSQL's statements by time (ms in all, calls, the statement):")
        for total, calls, query in statements:
            print(f"{total:9.0f} {calls:7d}  {query}")
        engine.dispose()


def _cpu(web_pid: int, database_pid: int) -> tuple[float, float]:
    tree = children_by_parent()
    return _tree_cpu(web_pid, tree), _tree_cpu(database_pid, tree)


def _tree_cpu(root: int, tree: dict[int, list[int]]) -> float:
    """CPU seconds of `root` and its descendants, with their children that have exited (a
    connection's PostgreSQL backend) counted in their parent's."""
    ticks = 0
    for pid in with_descendants(root, tree):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _sessions(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            ).scalar_one()
        )


def _statements(engine: Engine) -> list[tuple[float, int, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT total_exec_time, calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 150)"
                " FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 20"
            )
        )
        return [(float(t), int(c), str(q)) for t, c, q in rows]


def _profile(web_pid: int, seconds: float) -> Path:
    children = subprocess.run(
        ["pgrep", "-P", str(web_pid), "-f", "spawn_main"], capture_output=True, text=True
    ).stdout.split()
    PROFILES.mkdir(parents=True, exist_ok=True)
    out = PROFILES / f"web-{datetime.now(UTC):%Y-%m-%dT%H%M}.txt"
    spy = commands.ROOT / ".venv" / "bin" / "py-spy"
    subprocess.run(
        [str(spy), "record", "-p", children[0], "-d", str(int(seconds)), "-r", "50", "-f", "raw"]
        + ["-o", str(out)],
        capture_output=True,
        check=False,
    )
    return out


def _report(
    requests: list[Request],
    took: float,
    before: tuple[float, float],
    after: tuple[float, float],
    sessions: int,
    profile: Path,
) -> None:
    n = len(requests)
    print(f"{n} requests in {took:.0f} s ({n / took:.1f}/s)")
    for route in summarise(requests, float("-inf"), float("inf")).values():
        print(f"  {route.route}: {route.requests}, p50 {route.p50_ms} ms, p95 {route.p95_ms} ms")
    print(f"web processes' CPU a request: {(after[0] - before[0]) / n * 1000:.1f} ms")
    print(f"PostgreSQL's CPU a request: {(after[1] - before[1]) / n * 1000:.1f} ms")
    print(f"new database sessions: {sessions / took:.1f} a second")
    print(f"profile of one web process: {profile}")
    _top(profile)


def _top(profile: Path) -> None:
    """The functions most often at the top of the stack (their own time), by share."""
    own: Counter[str] = Counter()
    total = 0
    for line in profile.read_text().splitlines() if profile.exists() else []:
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
    for frame, samples in own.most_common(25):
        print(f"{samples / max(total, 1):6.1%}  {frame[:150]}")


if __name__ == "__main__":
    main()

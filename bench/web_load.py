"""The web app under load while a send runs (set-up `production-web`): `newsletter serve` as
production runs it (uvicorn with 2 processes, as in docker-compose.yml), and locust, headless,
driving USERS concurrent clients at it on 127.0.0.1 only, bounded in time (bench/locustfile.py):

- members following their emails' links: one-click unsubscribe POSTs (RFC 8058) and the manage
  page, each link signed by the product's own functions (newsletter/links.py);
- staff signed in as a browser does (a staff account made by newsletter/staff.py): the
  dashboard, a member search and the running send's page.

The one-click links are those of data.WEB_MEMBERS members outside the weekly digest (daily,
one topic), so their unsubscribes leave the send's N as it is; the manage links and searches
are the send's own members'.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bench import commands, data
from bench.latency import Request, read_records
from newsletter.audience import Audience
from newsletter.delivery.fanout import create_send
from newsletter.links import manage_url, unsubscribe_url
from newsletter.models import SendKind, SendStatus, StaffRole, Topic
from newsletter.staff import create_staff
from tests.support.servers import free_port, wait_for_port

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
USERS = 50
MEMBER_USERS = 20  # one-click and manage, 10 each on average
STAFF_USERS = USERS - MEMBER_USERS  # dashboard, search and send page, 10 each
# Each client waits this long (uniform) between its requests: ~50 requests a second in all,
# people reading pages rather than a flood that would only measure the machine's two cores
# (`python -m bench --web-wait MIN MAX` changes it).
WAIT_SECONDS = (0.5, 1.5)
SPAWN_RATE = 10  # clients started a second: staff sign in over a few seconds, not all at once
WEB_PROCESSES = 2  # as docker-compose.yml serves it
SAMPLE = 5_000  # members whose manage links and addresses the clients pick from
STAFF_EMAIL = "bench-staff@example.com"
STAFF_PASSWORD = "Quiet harbour lanterns drift past 47 sleepy gulls"
READY_SECONDS = 180  # for every client to start and sign in on a loaded machine


@dataclass(frozen=True)
class Plan:
    path: Path  # the JSON the locustfile reads
    send_id_file: Path
    ready_file: Path
    records_file: Path


def locust() -> str:
    found = Path(sys.executable).parent / "locust"
    if not found.exists():
        raise RuntimeError("locust is not installed: .venv/bin/pip install -e '.[dev,bench]'")
    return str(found)


def write_plan(
    engine: Engine,
    members: int,
    web_members: range,
    workdir: Path,
    wait: tuple[float, float] = WAIT_SECONDS,
) -> Plan:
    """A staff account, the one-click links of `web_members` (from a send of last week to
    them), manage links and search terms of a sample of members 1..N; in a JSON file."""
    with Session(engine) as session:
        create_staff(session, STAFF_EMAIL, STAFF_PASSWORD, StaffRole.ADMIN, actor="bench")
        topic = session.scalar(select(Topic.id).where(Topic.slug == data.WEB_TOPIC))
        assert topic is not None
        last_week, _ = create_send(
            session,
            kind=SendKind.ALERT,
            key="alert:bench-last-week",
            audience=Audience(topic_ids=(topic,)),
            status=SendStatus.SENT,
        )
        session.commit()
    sample = random.Random(21).sample(range(1, members + 1), min(members, SAMPLE))
    plan = Plan(
        workdir / "web-plan.json",
        workdir / "web-send-id",
        workdir / "web-ready",
        workdir / "web-requests.csv",
    )
    document = {
        "one_click": [_path(unsubscribe_url(m, last_week, 1)) for m in web_members],
        "manage": [_path(manage_url(m, 1)) for m in sample],
        "searches": [data.member_email(m).partition("@")[0] for m in sample],
        "staff_email": STAFF_EMAIL,
        "staff_password": STAFF_PASSWORD,
        "member_users": MEMBER_USERS,
        "staff_users": STAFF_USERS,
        "wait_seconds": list(wait),
        "send_id_file": str(plan.send_id_file),
        "ready": str(plan.ready_file),
        "records": str(plan.records_file),
    }
    plan.path.write_text(json.dumps(document))
    return plan


def _path(url: str) -> str:
    return urlsplit(url).path


@contextmanager
def web_app(env: dict[str, str], workdir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`newsletter serve` on a free port of 127.0.0.1: its base URL and process."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "web.log"
    args = ("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(WEB_PROCESSES))
    process = commands.start({**env, "NEWSLETTER_BASE_URL": url}, log, *args)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"`newsletter serve` stopped:\n{log.read_text()[-3000:]}")
            try:
                wait_for_port(port, timeout=0.5)
                break
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
        yield url, process
    finally:
        commands.stop(process, 10)


class Load:
    """locust running the plan against the web app; started by `load`."""

    def __init__(self, plan: Plan, process: subprocess.Popen[bytes], log: Path) -> None:
        self.plan, self.process, self._log = plan, process, log

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_until_ready(self) -> None:
        """Until every client has started (the staff signed in)."""
        deadline = time.monotonic() + READY_SECONDS
        while len(started := _lines(self.plan.ready_file)) < USERS:
            if problems := [line for line in started if line != "ok"]:
                raise RuntimeError(problems[0])
            if self.process.poll() is not None:
                raise RuntimeError(f"locust stopped:\n{self._log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"locust's clients were not all started after {READY_SECONDS}s")
            time.sleep(0.1)

    def name_send(self, send_id: int) -> None:
        """The send page's clients start once they know the send."""
        self.plan.send_id_file.write_text(str(send_id))

    def finish(self) -> list[Request]:
        """Stop the clients; every request they made."""
        self.process.send_signal(signal.SIGTERM)  # locust writes its records as it quits
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        if not self.plan.records_file.exists():
            raise RuntimeError(f"locust wrote no records:\n{self._log.read_text()[-3000:]}")
        return read_records(self.plan.records_file)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@contextmanager
def load(plan: Plan, url: str, workdir: Path, seconds: float) -> Iterator[Load]:
    """locust, headless, USERS clients at `url`, stopping by itself after `seconds` at most."""
    log = workdir / "locust.log"
    argv = [locust(), "-f", str(LOCUSTFILE), "--headless", "--host", url]
    argv += ["--users", str(USERS), "--spawn-rate", str(SPAWN_RATE)]
    argv += ["--run-time", f"{int(seconds)}s"]
    argv += ["--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0"]
    env = {**os.environ, "BENCH_WEB_PLAN": str(plan.path)}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv, env=env, cwd=commands.ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield Load(plan, process, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

"""Run a REAL `celery -A workers.celery_app worker` (or beat) in a child process for a test.

The child gets the test's NEWSLETTER_* environment (database, broker, SMTP server...), is waited
for until it is ready, and is always stopped (SIGTERM, then SIGKILL) when the block ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from tests.support.servers import stop_process

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
ALL_QUEUES = "urgent,fanout,send,schedule"


def child_env(overrides: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update({k: v for k, v in os.environ.items() if k.startswith("NEWSLETTER_")})
    env.update(overrides)
    env["PYTHONPATH"] = str(ROOT)
    return env


def use_env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> dict[str, str]:
    """Settings for this process and, passed on as `env`, for the processes it starts."""
    from newsletter.config import get_settings

    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return values


def wait_for(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll)
    raise TimeoutError(f"{what} after {timeout}s")


@contextmanager
def _child(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv, env=child_env(env), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    stop_process(process)  # SIGTERM is a warm shutdown: the task in hand is finished


def _ready(process: subprocess.Popen[bytes], log: Path, marker: str) -> Callable[[], bool]:
    def check() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        return marker in log.read_text(errors="replace")

    return check


def lowest_priority(pid: int) -> None:
    """A worker and its pool processes below everything else on this shared machine, for the
    tests that time the web app's answers while a worker is busy: they ask whether the web
    app is free, not how Linux shares two cores."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for process in (pid, *map(int, children)):
        os.setpriority(os.PRIO_PROCESS, process, 19)


@contextmanager
def celery_worker(
    env: dict[str, str],
    log: Path,
    *,
    queues: str = ALL_QUEUES,
    concurrency: int = 2,
    name: str = "test",
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker consuming `queues`; yields once it reports ready."""
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.celery_app",
        "worker",
        "--loglevel",
        "info",
        "--queues",
        queues,
        "--concurrency",
        str(concurrency),
        "--hostname",
        f"{name}-{os.getpid()}@localhost",
        "--without-mingle",
        "--without-gossip",
    ]
    with _child(argv, env, log) as process:
        wait_for(_ready(process, log, " ready."), 300, f"worker not ready (log: {log})")
        yield process


@contextmanager
def celery_beat(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A beat process with its own schedule file (under env's VAR_DIR)."""
    argv = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "beat", "-l", "info"]
    with _child(argv, env, log) as process:
        wait_for(_ready(process, log, "beat: Starting"), 300, f"beat not started (log: {log})")
        yield process


@contextmanager
def newsletter_worker(
    env: dict[str, str],
    log: Path,
    *,
    name: str | None = None,
    concurrency: int = 2,
    metrics_port: int | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """`newsletter worker` as an operator starts it (node name, metrics port); yields once
    it reports ready."""
    argv = [sys.executable, "-m", "newsletter", "worker", "--concurrency", str(concurrency)]
    if name:
        argv += ["--name", name]
    if metrics_port:
        argv += ["--metrics-port", str(metrics_port)]
    with _child(argv, env, log) as process:
        wait_for(_ready(process, log, " ready."), 300, f"worker not ready (log: {log})")
        yield process


@contextmanager
def newsletter_beat(
    env: dict[str, str], log: Path, *, metrics_port: int | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`newsletter beat` (with its heartbeat and the watch); yields once it has started."""
    argv = [sys.executable, "-m", "newsletter", "beat"]
    if metrics_port:
        argv += ["--metrics-port", str(metrics_port)]
    with _child(argv, env, log) as process:
        wait_for(_ready(process, log, "beat: Starting"), 300, f"beat not started (log: {log})")
        yield process


@contextmanager
def side_by_side(*managers: AbstractContextManager[T]) -> Iterator[list[T]]:
    """Enter several of the context managers above at once (each waits for its process to be
    ready, which takes seconds), and leave them all at the end."""
    with ExitStack() as stack:
        with ThreadPoolExecutor(len(managers)) as pool:
            futures = [pool.submit(manager.__enter__) for manager in managers]
        entered, failures = [], []
        for manager, future in zip(managers, futures, strict=True):
            if future.exception() is None:
                stack.push(manager.__exit__)
                entered.append(future.result())
            else:
                failures.append(future.exception())
        if failures:
            raise failures[0]  # type: ignore[misc]
        yield entered


def wait_until_idle(timeout: float = 60) -> None:
    """Every queue empty and no task running or reserved by any worker."""
    from newsletter.dispatch import QUEUES
    from workers.celery_app import producer

    app = producer()

    def idle() -> bool:
        with app.connection_for_read() as connection:
            client = connection.default_channel.client
            if any(client.llen(queue) for queue in QUEUES):
                return False
        inspect = app.control.inspect(timeout=1.0)
        busy = [*(inspect.active() or {}).values(), *(inspect.reserved() or {}).values()]
        return not any(busy)

    wait_for(idle, timeout, "the worker is still busy", poll=0.5)

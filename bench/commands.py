"""Running the real `newsletter` commands in child processes, with a run's settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.processes import children_by_parent, process_group, with_descendants

ROOT = Path(__file__).resolve().parents[1]
NEWSLETTER = str(Path(sys.executable).parent / "newsletter")
SECRET_KEY = "bench-secret-key-not-for-production-0123456789abcdef"


def settings_env(
    var_dir: Path, database_url: str, broker_url: str, smtp_port: int
) -> dict[str, str]:
    """This process's environment without any NEWSLETTER_* of its own, plus the run's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        {
            "NEWSLETTER_VAR_DIR": str(var_dir),
            "NEWSLETTER_DATABASE_URL": database_url,
            "NEWSLETTER_BROKER_URL": broker_url,
            "NEWSLETTER_EMAIL_BACKEND": "smtp",
            "NEWSLETTER_SMTP_HOST": "127.0.0.1",
            "NEWSLETTER_SMTP_PORT": str(smtp_port),
            "NEWSLETTER_SECRET_KEY": SECRET_KEY,
        }
    )
    return env


def run(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """Run `newsletter ARGS...`; returns its output, raises with it on failure."""
    done = subprocess.run(
        [NEWSLETTER, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"newsletter {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def start(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start `newsletter ARGS...` in its own process group, its output into `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [NEWSLETTER, *args],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], grace: float = 60) -> None:
    """SIGTERM (a worker finishes its task in hand), then SIGKILL; and any child of it left."""
    if process.poll() is not None:
        return
    children = with_descendants(process.pid, children_by_parent())[1:]
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    for pid in children:
        if process_group(pid) == process.pid:  # still ours, not a reused pid
            os.kill(pid, signal.SIGKILL)


@contextmanager
def worker(env: dict[str, str], log: Path, concurrency: int) -> Iterator[subprocess.Popen[bytes]]:
    """`newsletter worker --concurrency N`, yielded once it says it is ready."""
    process = start(env, log, "worker", "--concurrency", str(concurrency), "--loglevel", "info")
    try:
        deadline = time.monotonic() + 120
        while " ready." not in log.read_text(errors="replace"):
            if process.poll() is not None:
                raise RuntimeError(f"the worker exited:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the worker was not ready after 120 s (log: {log})")
            time.sleep(0.2)
        yield process
    finally:
        stop(process)


def time_sends_show(env: dict[str, str], send_id: int, repeat: int) -> tuple[list[float], Any]:
    """Wall times in ms of `newsletter sends show ID --json` run `repeat` times, and what it
    printed."""
    times, output = [], ""
    for _ in range(repeat):
        began = time.perf_counter()
        output = run(env, "sends", "show", str(send_id), "--json", timeout=60)
        times.append((time.perf_counter() - began) * 1000)
    return times, json.loads(output)

"""Process control for the scenarios: kill a worker the hard way, run beat on a fast clock."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from tests.support.worker import _child, _ready, wait_for


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has already died


def kill_hard(process: subprocess.Popen[bytes]) -> list[int]:
    """SIGKILL a worker and its pool processes at once, as a crash or the OOM killer would;
    returns the pids killed, after they are gone."""
    pids = [process.pid, *children(process.pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=30)
    wait_for(lambda: not any(alive(pid) for pid in pids), 30, "killed processes still alive")
    return pids


def clock_env(
    fake_start: datetime,
    speed: float,
    real_start: float | str = "first",
    jumps: Sequence[tuple[float, float]] = (),
) -> dict[str, str]:
    """The environment of a fast-clock beat (fast_clock.py): the fake moment at `real_start`
    (a time.time() value, or "first": when beat first asks the time), its speed, and jumps of
    the clock ((real seconds after the start, seconds added), e.g. an hour forward and back)."""
    return {
        "FAST_CLOCK_FAKE_START": fake_start.isoformat(),
        "FAST_CLOCK_REAL_START": str(real_start),
        "FAST_CLOCK_SPEED": str(speed),
        "FAST_CLOCK_JUMPS": ",".join(f"{after}:{seconds}" for after, seconds in jumps),
    }


@contextmanager
def fast_clock_beat(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real `celery beat` on the product's schedule, with the fast clock of fast_clock.py."""
    argv = [sys.executable, "-m", "celery", "-A", "tests.faults.fast_clock", "beat", "-l", "info"]
    with _child(argv, env, log) as process:
        wait_for(_ready(process, log, "beat: Starting"), 300, f"beat not started (log: {log})")
        yield process

"""Killing a worker the hard way: SIGKILL to its main process and to every pool process."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.support.worker import wait_for


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
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=30)
    wait_for(lambda: not any(alive(pid) for pid in pids), 30, "killed processes still alive")
    return pids

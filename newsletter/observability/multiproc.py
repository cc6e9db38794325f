"""A folder of Prometheus metric files for a group of processes (a worker and its prefork pool,
uvicorn's workers), so that one endpoint serves what all of them counted.

prometheus_client picks its way of storing values when it is imported, from the environment
variable PROMETHEUS_MULTIPROC_DIR: the folder must be chosen before anything imports it.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import sys
from pathlib import Path

from newsletter.config import Settings

ENV = "PROMETHEUS_MULTIPROC_DIR"
_FOLDER = re.compile(r"^[a-z]+-(\d+)$")


def use_folder(settings: Settings, role: str) -> Path:
    """Give this process and the children it forks a fresh folder METRICS_DIR/<role>-<pid>,
    removed when it exits; the folders of processes no longer running go too. An operator's
    own PROMETHEUS_MULTIPROC_DIR is used as it is."""
    if "newsletter.observability.metrics" in sys.modules:
        raise RuntimeError("the metrics folder must be chosen before the metrics are imported")
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    root = settings.metrics_dir.resolve()
    remove_dead_folders(root)
    folder = root / f"{role}-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[ENV] = str(folder)
    atexit.register(_remove_if_mine, folder, os.getpid())
    return folder


def _remove_if_mine(folder: Path, pid: int) -> None:
    # Only the process that made it removes it: forked pool processes run atexit handlers too.
    if os.getpid() == pid:
        shutil.rmtree(folder, ignore_errors=True)


def remove_dead_folders(root: Path) -> list[Path]:
    """Folders left by processes that were killed: their counts died with them."""
    removed = []
    for folder in root.glob("*-*"):
        match = _FOLDER.match(folder.name)
        if match and folder.is_dir() and not _alive(int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def in_use() -> bool:
    return bool(os.environ.get(ENV))


def mark_process_dead(pid: int) -> None:
    """A pool process has ended: drop its live gauges (its counters stay in the totals)."""
    if in_use():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)

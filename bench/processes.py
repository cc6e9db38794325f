"""Peak resident memory and CPU time of each process taking part in a run, read from /proc.

The kernel keeps each process's high-water mark (VmHWM in /proc/PID/status), so sampling only
has to see a process once before it ends; a thread re-reads every watched process a few times a
second and keeps the highest value per pid. Children (Celery's pool, PostgreSQL's backends) are
found by walking the process tree from the roots given. CPU time (user + system) is what the
process has used since the sampler started (what it had used by then is subtracted: a server's
start, the data written before the run) when last seen: a ratio of CPU to messages holds on a
noisy machine where wall time does not.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcessPeak:
    role: str
    pid: int
    name: str
    peak_mb: float
    cpu_seconds: float = 0.0


def peak_rss_kb(pid: int) -> int | None:
    """The process's peak resident set size so far, in KiB (None once it has gone)."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time the process has used so far (None once it has gone)."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def command_name(pid: int) -> str:
    try:
        return (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return "?"


def process_group(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[2])


def children_by_parent() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def with_descendants(root: int, tree: dict[int, list[int]]) -> list[int]:
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


class PeakSampler:
    """Samples the processes under some roots until stopped; `peaks()` gives the maxima.

    `roots` maps a role to a pid: the pid is reported under the role, its descendants under
    "<role> child".
    """

    def __init__(self, roots: dict[str, int], interval: float = 0.25) -> None:
        self._roots = roots
        self._interval = interval
        self._peaks: dict[int, ProcessPeak] = {}
        self._before: dict[int, float] = {}  # CPU each process had used when the sampler started
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> PeakSampler:
        tree = children_by_parent()
        for root in self._roots.values():
            for pid in with_descendants(root, tree):
                self._before[pid] = cpu_seconds(pid) or 0.0
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.sample()

    def watch(self, role: str, pid: int) -> None:
        self._roots = {**self._roots, role: pid}

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def sample(self) -> None:
        with self._lock:
            self._sample()

    def snapshot(self) -> list[ProcessPeak]:
        """The peaks and CPU times as they are now."""
        self.sample()
        return self.peaks()

    def _sample(self) -> None:
        tree = children_by_parent()
        for role, root in list(self._roots.items()):
            for pid in with_descendants(root, tree):
                kb, cpu = peak_rss_kb(pid), cpu_seconds(pid)
                if kb is None or cpu is None:
                    continue
                label = role if pid == root else f"{role} child"
                known = self._peaks.get(pid)
                name = known.name if known else command_name(pid)
                peak = max(kb / 1024, known.peak_mb if known else 0.0)
                used = cpu - self._before.get(pid, 0.0)
                self._peaks[pid] = ProcessPeak(label, pid, name, peak, used)

    def peaks(self) -> list[ProcessPeak]:
        with self._lock:
            return sorted(self._peaks.values(), key=lambda p: (p.role, p.pid))


# CPU a message is counted over these groups of processes (the sink, the web app and the load
# generator are not part of sending); the JSON has every role.
CPU_GROUPS = {
    "postgres": ("database", "database child"),
    "pool": ("worker child",),
    "worker main": ("worker",),
    "broker": ("broker",),
    "digest run": ("digest run",),
}


def cpu_by_group(peaks: list[ProcessPeak]) -> dict[str, float]:
    """CPU_GROUPS' group -> CPU seconds used by all its processes (0 for a group not there)."""
    used = cpu_by_role(peaks)
    return {
        group: sum(used.get(role, 0.0) for role in roles) for group, roles in CPU_GROUPS.items()
    }


def cpu_by_role(peaks: list[ProcessPeak]) -> dict[str, float]:
    """role -> CPU seconds used by all its processes."""
    found: dict[str, float] = {}
    for peak in peaks:
        found[peak.role] = found.get(peak.role, 0.0) + peak.cpu_seconds
    return found


def largest_by_role(peaks: list[ProcessPeak]) -> dict[str, tuple[float, int]]:
    """role -> (largest peak in MB, number of processes in that role)."""
    found: dict[str, tuple[float, int]] = {}
    for peak in peaks:
        largest, count = found.get(peak.role, (0.0, 0))
        found[peak.role] = (max(largest, peak.peak_mb), count + 1)
    return found

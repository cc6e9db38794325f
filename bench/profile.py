"""`--profile`: py-spy samples a process and its children, waiting included, while a run goes on.

Writes collapsed stacks (one line per stack, a count at the end: flamegraph.pl's input) and a
summary of where the wall time went, by function, into bench/results/profiles/. With a focus
(a function's name), the shares are of the samples inside that function, e.g. of the delivery
task's own time rather than of the Celery main process's idle loop.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROFILES = Path(__file__).resolve().parent / "results" / "profiles"
RATE = 100  # samples a second: py-spy itself costs CPU on a 2-core machine


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install -e '.[dev]'")
    return found


@contextmanager
def recording(pid: int, name: str, focus: str = "") -> Iterator[Path]:
    """Sample `pid` and its subprocesses until the block ends; yields the output path."""
    PROFILES.mkdir(parents=True, exist_ok=True)
    (PROFILES / ".gitignore").write_text("*\n")  # large, and only of use on this machine
    output = PROFILES / f"{name}.txt"
    argv = [py_spy(), "record", "--pid", str(pid), "--subprocesses", "--idle", "--nonblocking"]
    argv += ["--rate", str(RATE), "--format", "raw", "--output", str(output)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield output
    finally:
        process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    if output.exists():
        (PROFILES / f"{name}-summary.txt").write_text(summary(output, focus))


def summary(collapsed: Path, focus: str = "", top: int = 45) -> str:
    """Share of samples in each function: inclusive (anywhere on the stack) and own (on top)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        if focus and not any(frame.startswith(focus) for frame in frames):
            continue
        count = int(count_text)
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return f"no samples{' in ' + focus if focus else ''}\n"
    head = f"{total} samples at {RATE}/s" + (f", only those inside {focus}" if focus else "")
    lines = [head, "", "inclusive (on the stack):"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", "own (top of the stack):"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines) + "\n"

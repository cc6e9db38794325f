"""`--profile`: py-spy samples a process (and its children) on the CPU while a run goes on.

Writes collapsed stacks (one line per stack, a count at the end: flamegraph.pl's input) and a
short summary of where the time went, by function, into bench/results/profiles/.
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
RATE = 200  # samples a second


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install -e '.[dev]'")
    return found


@contextmanager
def recording(pid: int, name: str) -> Iterator[Path]:
    """Sample `pid` and its subprocesses until the block ends; yields the output path."""
    PROFILES.mkdir(parents=True, exist_ok=True)
    output = PROFILES / f"{name}.txt"
    argv = [py_spy(), "record", "--pid", str(pid), "--subprocesses"]
    argv += ["--rate", str(RATE), "--format", "raw", "--output", str(output), "--nonblocking"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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
        (PROFILES / f"{name}-summary.txt").write_text(summary(output))


def summary(collapsed: Path, top: int = 40) -> str:
    """Share of samples in each function, inclusive (anywhere on the stack) and on top."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples", "", "inclusive (on the stack):"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", "own (top of the stack):"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines) + "\n"

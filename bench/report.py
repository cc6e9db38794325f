"""The results: one JSON document (bench/results/<date>.json) and a table for people.

Every ratio compares runs made side by side in the same invocation, on the same machine.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bench.limit import LimitRun
from bench.naive import NaiveRun
from bench.ours import OursRun
from bench.processes import cpu_by_role, largest_by_role

RESULTS = Path(__file__).resolve().parent / "results"
LABELS = {"embedded": "ours, embedded (SQLite)", "production": "ours, production (PG+Redis)"}
# What the table shows of each run's processes (the JSON has every process).
MEMORY_GROUPS = {
    "worker": ("worker",),
    "pool": ("worker child",),
    "digest run": ("digest run",),
    "redis": ("broker",),
    "postgres": ("database", "database child"),
}
# Targets of issue 7.
PRODUCTION_VS_LIMIT = 0.60
PRODUCTION_VS_NAIVE = 20.0
EMBEDDED_VS_LIMIT = 0.40
FANOUT_SECONDS = 10.0
FANOUT_MEMBERS = 100_000
WORKER_RSS_MB = 150.0
WORKER_RSS_GROWTH = 1.10  # "the same at 100k as at 10k": within 10%
SENDS_SHOW_MS = 200.0
LINEAR_SLACK = 1.15  # time(10N) up to 11.5 x time(N) still counts as linear


@dataclass
class Results:
    sizes: list[int]
    message_bytes: int
    naive: NaiveRun
    limits: dict[int, list[LimitRun]] = field(default_factory=dict)
    ours: dict[int, dict[str, OursRun]] = field(default_factory=dict)

    def limit_rate(self, size: int) -> float:
        """The limit: the fastest of the client counts tried, at this size."""
        return max(run.rate for run in self.limits[size])


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": _version(["postgres", "--version"]),
        "redis": _version(["redis-server", "--version"]),
    }


def code_version() -> dict[str, Any]:
    """The commit measured, and the files of the product that differed from it (read only)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "newsletter", "workers")
    return {"commit": git("rev-parse", "HEAD"), "uncommitted": changed.splitlines()}


def _version(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    return subprocess.run(argv, capture_output=True, text=True).stdout.strip()


# The JSON document ---------------------------------------------------------------------------


def document(
    results: Results, info: dict[str, Any], command: str, code: dict[str, Any]
) -> dict[str, Any]:
    sizes = results.sizes
    return {
        "date": date.today().isoformat(),
        "command": command,
        "machine": info,
        "code": {**code, "changed_during_run": code_version() != code},
        "message_bytes": results.message_bytes,
        "naive": {**asdict(results.naive), "rate": results.naive.rate},
        "runs": {
            str(size): {
                "limit_rate": results.limit_rate(size),
                "limit": [{**asdict(run), "rate": run.rate} for run in results.limits[size]],
                "ours": {
                    setup: {
                        **asdict(run),
                        "rate": run.rate,
                        "vs_limit": run.rate / results.limit_rate(size),
                        "vs_naive": run.rate / results.naive.rate,
                    }
                    for setup, run in results.ours.get(size, {}).items()
                },
            }
            for size in sizes
        },
        "growth": growth(results),
        "targets": [asdict(t) for t in targets(results)],
    }


def write(doc: dict[str, Any], sizes: list[int], default_sizes: list[int]) -> Path:
    """bench/results/<date>.json for the default sizes; quick runs get their own name."""
    RESULTS.mkdir(exist_ok=True)
    name = doc["date"] if sizes == default_sizes else f"{doc['date']}-n{'-'.join(map(str, sizes))}"
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def growth(results: Results) -> dict[str, float]:
    """time(largest N) / time(smallest N) per way; linear is largest/smallest."""
    small, large = min(results.sizes), max(results.sizes)
    if small == large:
        return {}
    found = {"linear": large / small}
    for setup in LABELS:
        if setup in results.ours.get(small, {}) and setup in results.ours.get(large, {}):
            found[setup] = results.ours[large][setup].seconds / results.ours[small][setup].seconds
    return found


# Targets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    held: bool


def targets(results: Results) -> list[Target]:
    found: list[Target] = []
    for size in results.sizes:
        ours = results.ours.get(size, {})
        limit = results.limit_rate(size)
        if "production" in ours:
            run = ours["production"]
            found.append(
                Target(
                    f"production >= {PRODUCTION_VS_LIMIT:.0%} of the limit, N={size:,}",
                    f"{run.rate / limit:.0%}",
                    run.rate / limit >= PRODUCTION_VS_LIMIT,
                )
            )
            found.append(
                Target(
                    f"production >= {PRODUCTION_VS_NAIVE:.0f}x the naive way, N={size:,}",
                    f"{run.rate / results.naive.rate:.1f}x",
                    run.rate / results.naive.rate >= PRODUCTION_VS_NAIVE,
                )
            )
        if "embedded" in ours:
            run = ours["embedded"]
            found.append(
                Target(
                    f"embedded >= {EMBEDDED_VS_LIMIT:.0%} of the limit, N={size:,}",
                    f"{run.rate / limit:.0%}",
                    run.rate / limit >= EMBEDDED_VS_LIMIT,
                )
            )
    found.extend(_fanout_targets(results))
    found.extend(_memory_targets(results))
    found.extend(_sends_show_targets(results))
    found.extend(_growth_targets(results))
    return found


def _fanout_targets(results: Results) -> list[Target]:
    size = max(results.sizes)
    run = results.ours.get(size, {}).get("production")
    if run is None:
        return []
    note = "" if size >= FANOUT_MEMBERS else f" (only N={size:,} was run)"
    return [
        Target(
            f"fan-out of {size:,} ledger rows on PostgreSQL < {FANOUT_SECONDS:.0f} s{note}",
            f"{run.fanout_seconds:.1f} s",
            run.fanout_seconds < FANOUT_SECONDS,
        )
    ]


def worker_peak_mb(run: OursRun) -> float:
    roles = largest_by_role(run.peaks)
    return max(roles.get(role, (0.0, 0))[0] for role in ("worker", "worker child"))


def _memory_targets(results: Results) -> list[Target]:
    found = []
    small, large = min(results.sizes), max(results.sizes)
    for setup in LABELS:
        runs = {
            size: results.ours[size][setup]
            for size in results.sizes
            if setup in results.ours.get(size, {})
        }
        if not runs:
            continue
        peak = max(worker_peak_mb(run) for run in runs.values())
        found.append(
            Target(
                f"{setup}: peak RSS per worker process < {WORKER_RSS_MB:.0f} MB",
                f"{peak:.0f} MB",
                peak < WORKER_RSS_MB,
            )
        )
        if small != large and small in runs and large in runs:
            before, after = worker_peak_mb(runs[small]), worker_peak_mb(runs[large])
            found.append(
                Target(
                    f"{setup}: worker peak RSS the same at N={large:,} as at N={small:,}",
                    f"{before:.0f} -> {after:.0f} MB",
                    after <= before * WORKER_RSS_GROWTH,
                )
            )
    return found


def _sends_show_targets(results: Results) -> list[Target]:
    size = max(results.sizes)
    found = []
    for setup, run in results.ours.get(size, {}).items():
        found.append(
            Target(
                f"{setup}: `sends show --json` on the {size:,} send < {SENDS_SHOW_MS:.0f} ms",
                f"{run.sends_show_ms:.0f} ms (its query: {run.sends_show_query_ms:.1f} ms)",
                run.sends_show_ms < SENDS_SHOW_MS,
            )
        )
    return found


def _growth_targets(results: Results) -> list[Target]:
    found_growth = growth(results)
    if not found_growth:
        return []
    linear = found_growth["linear"]
    return [
        Target(
            f"{setup}: time grows linearly, N={min(results.sizes):,} -> {max(results.sizes):,}",
            f"x{ratio:.1f} (linear: x{linear:.0f})",
            ratio <= linear * LINEAR_SLACK,
        )
        for setup, ratio in found_growth.items()
        if setup != "linear"
    ]


# The table ---------------------------------------------------------------------------------


def table(results: Results, info: dict[str, Any]) -> str:
    lines = [
        f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB, "
        f"Python {info['python']}; {info['postgresql']}; {info['redis']}",
        f"weekly digest of 8 articles, {results.message_bytes / 1024:.0f} KB a message, "
        "every message personalised; sink: Postfix smtp-sink on 127.0.0.1",
    ]
    naive = results.naive
    for size in results.sizes:
        limit = results.limit_rate(size)
        lines += [
            "",
            f"N = {size:,} members",
            _row("way", "time s", "msg/s", "vs limit", "vs naive", "fan-out s", "peak RSS MB"),
        ]
        for bound in results.limits[size]:
            plural = "s" if bound.clients > 1 else ""
            lines.append(
                _row(
                    f"limit, {bound.clients} client{plural}",
                    f"{bound.seconds:.1f}",
                    f"{bound.rate:,.0f}",
                    f"{bound.rate / limit:.2f}",
                    f"{bound.rate / naive.rate:.1f}",
                    "",
                    "",
                )
            )
        lines.append(
            _row(
                f"naive ({naive.members:,} sent, scaled)",
                f"{naive.seconds_for(size):.1f}",
                f"{naive.rate:,.0f}",
                f"{naive.rate / limit:.2f}",
                "1.0",
                "",
                "",
            )
        )
        for setup, run in results.ours.get(size, {}).items():
            lines.append(
                _row(
                    LABELS[setup],
                    f"{run.seconds:.1f}",
                    f"{run.rate:,.0f}",
                    f"{run.rate / limit:.2f}",
                    f"{run.rate / naive.rate:.1f}",
                    f"{run.fanout_seconds:.2f}",
                    _memory(run),
                )
            )
    lines += ["", *_details(results), "", "targets:"]
    lines += [
        f"  {'held  ' if t.held else 'MISSED'}  {t.name}: {t.measured}" for t in targets(results)
    ]
    return "\n".join(lines)


def _row(*cells: str) -> str:
    widths = (30, 8, 7, 9, 9, 10)
    head = "".join(
        cell.ljust(width) if i == 0 else cell.rjust(width)
        for i, (cell, width) in enumerate(zip(cells, widths, strict=False))
    )
    return f"  {head}  {cells[-1]}"


def _memory(run: OursRun) -> str:
    """The largest peak in each group of processes, and how many processes it had."""
    roles = largest_by_role(run.peaks)
    parts = []
    for label, names in MEMORY_GROUPS.items():
        found = [roles[name] for name in names if name in roles]
        if found:
            largest, count = max(mb for mb, _ in found), sum(n for _, n in found)
            parts.append(f"{label} {largest:.0f}" + (f" (x{count})" if count > 1 else ""))
    return ", ".join(parts)


def _cpu(run: OursRun) -> str:
    """CPU seconds by group of processes, and per message in all: noise moves it less than
    wall time."""
    used = cpu_by_role(run.peaks)
    parts = [f"{role} {seconds:.1f} s" for role, seconds in used.items()]
    per_message = sum(used.values()) / run.members * 1000
    return f"{', '.join(parts)}; {per_message:.2f} ms a message in all"


def _details(results: Results) -> list[str]:
    lines = []
    large = max(results.sizes)
    for setup, run in results.ours.get(large, {}).items():
        broker = f" + broker file {run.broker_bytes / 1e6:.1f} MB" if run.broker_bytes else ""
        show, query = run.sends_show_ms, run.sends_show_query_ms
        lines += [
            f"{LABELS[setup]}, N={large:,}:",
            f"    database after the run {run.database_bytes / 1e6:.0f} MB{broker}",
            f"    `sends show --json` {show:.0f} ms, of which its query {query:.1f} ms",
            f"    `digest run` process {run.digest_command_seconds:.1f} s; "
            f"the sink took {run.sink_accepted:,} messages",
            f"    CPU {_cpu(run)}",
        ]
    found = growth(results)
    if found:
        ways = ", ".join(f"{s} x{r:.1f}" for s, r in found.items() if s != "linear")
        small = min(results.sizes)
        lines.append(f"time N={small:,} -> {large:,} (linear: x{found['linear']:.0f}): {ways}")
    return lines

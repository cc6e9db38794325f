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

from bench.latency import throughput_drop
from bench.limit import LimitRun
from bench.naive import NaiveRun
from bench.ours import OursRun
from bench.processes import CPU_GROUPS, largest_by_role

RESULTS = Path(__file__).resolve().parent / "results"
LABELS = {
    "embedded": "ours, embedded (SQLite)",
    "production": "ours, production (PG+Redis)",
    "production-web": "ours, production, web load",
}
# What the table shows of each run's processes (the JSON has every process).
MEMORY_GROUPS = {
    "worker": ("worker",),
    "pool": ("worker child",),
    "digest run": ("digest run",),
    "redis": ("broker",),
    "postgres": ("database", "database child"),
}
# Targets of issues 7 and 21 (where 21 raised one, its figure).
PRODUCTION_VS_LIMIT = 0.65
PRODUCTION_VS_NAIVE = 20.0
EMBEDDED_VS_LIMIT = 0.50
FANOUT_SECONDS = 10.0
TARGET_MEMBERS = 100_000  # the N that the targets below name
WORKER_RSS_MB = 150.0
WORKER_RSS_GROWTH = 1.10  # "the same at 100k as at 10k": within 10%
SENDS_SHOW_MS = 300.0  # the whole command
SENDS_SHOW_QUERY_MS = 200.0
LINEAR_SLACK = 1.15  # time(10N) up to 11.5 x time(N) still counts as linear
FIRST_EMAIL_SECONDS = 1.0
CPU_MS_PER_MESSAGE = 0.45  # production, all processes but the sink
LARGE_RATE_SLACK = 0.10  # a million members: throughput within 10% of 100,000's
WEB_THROUGHPUT_DROP = 0.20


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

    def web_drop(self, size: int) -> float | None:
        """How much the send slowed down under the web load, at this size (None: not run)."""
        ours = self.ours.get(size, {})
        if "production" not in ours or "production-web" not in ours:
            return None
        return throughput_drop(ours["production"].rate, ours["production-web"].rate)


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
                    setup: _run_document(run, results, size)
                    for setup, run in results.ours.get(size, {}).items()
                },
                "web_throughput_drop": results.web_drop(size),
            }
            for size in sizes
        },
        "growth": growth(results),
        "targets": [asdict(t) for t in targets(results)],
    }


def _run_document(run: OursRun, results: Results, size: int) -> dict[str, Any]:
    found = {
        **asdict(run),
        "rate": run.rate,
        "vs_limit": run.rate / results.limit_rate(size),
        "vs_naive": run.rate / results.naive.rate,
        "cpu_ms_per_message": run.cpu_ms_per_message,
        "cpu_ms_per_message_by_group": {
            group: seconds / run.members * 1000 for group, seconds in run.cpu.items()
        },
    }
    if run.alert is not None:
        found["alert"]["rate"] = run.alert.rate
    if run.web is not None:
        for route, latency in run.web.routes.items():
            found["web"]["routes"][route].update(target_ms=latency.target_ms, held=latency.held)
    return found


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
    for setup in ("embedded", "production"):
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
        found.extend(_rate_targets(results, size))
    found.extend(_first_email_targets(results))
    found.extend(_production_targets(results))
    found.extend(_memory_targets(results))
    found.extend(_large_targets(results))
    found.extend(_sends_show_targets(results))
    found.extend(_web_targets(results))
    found.extend(_growth_targets(results))
    return found


def _rate_targets(results: Results, size: int) -> list[Target]:
    ours = results.ours.get(size, {})
    limit = results.limit_rate(size)
    found = []
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
    return found


def _target_size(results: Results, setup: str) -> tuple[int, str] | None:
    """The N a target is checked at: 100,000 when it was run, else the largest run (named)."""
    sizes = [size for size in results.sizes if setup in results.ours.get(size, {})]
    if not sizes:
        return None
    if TARGET_MEMBERS in sizes:
        return TARGET_MEMBERS, ""
    size = max(sizes)
    return size, f" (N={size:,} was run, not {TARGET_MEMBERS:,})"


def _first_email_targets(results: Results) -> list[Target]:
    found = []
    for setup in ("embedded", "production"):
        chosen = _target_size(results, setup)
        if chosen is None:
            continue
        size, note = chosen
        run = results.ours[size][setup]
        found.append(
            Target(
                f"{setup}: first email of `digest run` < {FIRST_EMAIL_SECONDS:.0f} s{note}",
                f"{run.first_email_seconds:.2f} s",
                run.first_email_seconds < FIRST_EMAIL_SECONDS,
            )
        )
        if run.alert is not None:
            found.append(
                Target(
                    f"{setup}: first email of a breaking alert < {FIRST_EMAIL_SECONDS:.0f} s{note}",
                    f"{run.alert.first_email_seconds:.2f} s",
                    run.alert.first_email_seconds < FIRST_EMAIL_SECONDS,
                )
            )
    return found


def _production_targets(results: Results) -> list[Target]:
    """CPU a message and the fan-out's time, in production at 100,000 (or the largest N)."""
    chosen = _target_size(results, "production")
    if chosen is None:
        return []
    size, note = chosen
    run = results.ours[size]["production"]
    return [
        Target(
            f"production: CPU a message <= {CPU_MS_PER_MESSAGE} ms, the sink excluded{note}",
            f"{run.cpu_ms_per_message:.2f} ms",
            run.cpu_ms_per_message <= CPU_MS_PER_MESSAGE,
        ),
        Target(
            f"fan-out of {size:,} ledger rows on PostgreSQL < {FANOUT_SECONDS:.0f} s{note}",
            f"{run.fanout_seconds:.1f} s",
            run.fanout_seconds < FANOUT_SECONDS,
        ),
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


def _large_targets(results: Results) -> list[Target]:
    """Beyond 100,000 (a million members): the rate holds within 10% of 100,000's."""
    base = results.ours.get(TARGET_MEMBERS, {}).get("production")
    found = []
    for size in results.sizes:
        run = results.ours.get(size, {}).get("production")
        if size <= TARGET_MEMBERS or run is None or base is None:
            continue
        found.append(
            Target(
                f"production at N={size:,}: msg/s within {LARGE_RATE_SLACK:.0%} of "
                f"N={TARGET_MEMBERS:,}'s",
                f"{run.rate:,.0f} vs {base.rate:,.0f} ({run.rate / base.rate - 1:+.0%})",
                run.rate >= base.rate * (1 - LARGE_RATE_SLACK),
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
                f"{run.sends_show_ms:.0f} ms (median of {len(run.sends_show_runs_ms)})",
                run.sends_show_ms < SENDS_SHOW_MS,
            )
        )
        found.append(
            Target(
                f"{setup}: its query < {SENDS_SHOW_QUERY_MS:.0f} ms",
                f"{run.sends_show_query_ms:.1f} ms",
                run.sends_show_query_ms < SENDS_SHOW_QUERY_MS,
            )
        )
    return found


def _web_targets(results: Results) -> list[Target]:
    chosen = _target_size(results, "production-web")
    if chosen is None:
        return []
    size, note = chosen
    web = results.ours[size]["production-web"].web
    assert web is not None
    found = [
        Target(
            f"web under load: {route} p95 < {latency.target_ms:.0f} ms, no failures{note}",
            f"{_ms(latency.p95_ms)} ms, {latency.failures} failed of {latency.requests}",
            bool(latency.held),
        )
        for route, latency in web.routes.items()
        if latency.target_ms is not None
    ]
    drop = results.web_drop(size)
    if drop is not None:
        found.append(
            Target(
                f"web under load: the send's msg/s drops <= {WEB_THROUGHPUT_DROP:.0%}{note}",
                f"{drop:.0%}",
                drop <= WEB_THROUGHPUT_DROP,
            )
        )
    return found


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


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
    for size in results.sizes:
        lines += ["", f"N = {size:,} members", *_ways(results, size)]
        ours = results.ours.get(size, {})
        if ours:
            lines += ["", *_cpu_table(ours)]
        alerts = {setup: run.alert for setup, run in ours.items() if run.alert is not None}
        if alerts:
            lines += ["", *_alert_table(alerts)]
        loaded = ours.get("production-web")
        if loaded is not None and loaded.web is not None:
            lines += ["", *_web_table(loaded, results.web_drop(size))]
    lines += ["", *LEGEND, "", *_details(results), "", "targets:"]
    lines += [
        f"  {'held  ' if t.held else 'MISSED'}  {t.name}: {t.measured}" for t in targets(results)
    ]
    return "\n".join(lines)


LEGEND = [
    "1st email s: from launching `digest run` (or `articles publish`) to the sink's first",
    "accepted message; fan-out s: send created to all N ledger rows committed; CPU ms: CPU a",
    "message from the launch to the last message, all processes but the sink (by group below);",
    "web: requests begun while the send ran, their times as the load generator saw them.",
]
LABEL = 40  # the first column
WAYS = (LABEL, 8, 7, 9, 9, 12, 10, 8)


def _ways(results: Results, size: int) -> list[str]:
    """Each way's time, rate and ratios; ours with its first email, fan-out, CPU and memory."""
    limit, naive = results.limit_rate(size), results.naive
    head = ("way", "time s", "msg/s", "vs limit", "vs naive", "1st email s", "fan-out s", "CPU ms")
    lines = [_row(WAYS, *head, "peak RSS MB")]
    for bound in results.limits[size]:
        plural = "s" if bound.clients > 1 else ""
        sent = "" if bound.members == size else f" ({bound.members:,} sent, scaled)"
        lines.append(
            _row(
                WAYS,
                f"limit, {bound.clients} client{plural}{sent}",
                f"{size / bound.rate:.1f}",
                f"{bound.rate:,.0f}",
                f"{bound.rate / limit:.2f}",
                f"{bound.rate / naive.rate:.1f}",
                *[""] * 4,
            )
        )
    lines.append(
        _row(
            WAYS,
            f"naive ({naive.members:,} sent, scaled)",
            f"{naive.seconds_for(size):.1f}",
            f"{naive.rate:,.0f}",
            f"{naive.rate / limit:.2f}",
            "1.0",
            *[""] * 4,
        )
    )
    for setup, run in results.ours.get(size, {}).items():
        lines.append(
            _row(
                WAYS,
                LABELS[setup],
                f"{run.seconds:.1f}",
                f"{run.rate:,.0f}",
                f"{run.rate / limit:.2f}",
                f"{run.rate / naive.rate:.1f}",
                f"{run.first_email_seconds:.2f}",
                f"{run.fanout_seconds:.2f}",
                f"{run.cpu_ms_per_message:.2f}",
                _memory(run),
            )
        )
    return lines


CPU_COLUMNS = (LABEL, 6, *(max(9, len(group) + 2) for group in CPU_GROUPS))


def _cpu_table(ours: dict[str, OursRun]) -> list[str]:
    """CPU a message (ms) of each group of processes during the digest; the sink excluded."""
    lines = [_row(CPU_COLUMNS, "CPU ms a message, by process", "all", *CPU_GROUPS, "")]
    for setup, run in ours.items():
        split = [f"{run.cpu[group] / run.members * 1000:.3f}" for group in CPU_GROUPS]
        lines.append(_row(CPU_COLUMNS, LABELS[setup], f"{run.cpu_ms_per_message:.3f}", *split, ""))
    return lines


ALERTS = (LABEL, 11, 12, 8, 7)


def _alert_table(alerts: dict[str, Any]) -> list[str]:
    """The breaking alert published after the digest, timed from `articles publish`."""
    head = ("alert (`articles publish`)", "recipients", "1st email s", "time s", "msg/s")
    lines = [_row(ALERTS, *head, "CPU ms a message")]
    for setup, alert in alerts.items():
        cpu = sum(alert.cpu.values()) / alert.recipients * 1000
        lines.append(
            _row(
                ALERTS,
                LABELS[setup],
                f"{alert.recipients:,}",
                f"{alert.first_email_seconds:.2f}",
                f"{alert.seconds:.1f}",
                f"{alert.rate:,.0f}",
                f"{cpu:.3f}",
            )
        )
    return lines


WEB = (LABEL, 9, 9, 7, 7, 7, 7)


def _web_table(run: OursRun, drop: float | None) -> list[str]:
    """Each route's latency, from the requests the load generator began while the send ran."""
    assert run.web is not None
    low, high = run.web.wait_seconds
    title = f"web: {run.web.users} clients, {low:g}-{high:g} s apart"
    head = (title, "requests", "failed", "202", "p50 ms", "p95 ms")
    lines = [_row(WEB, *head, "p99 ms", "p95 target")]
    for route, latency in run.web.routes.items():
        target = "" if latency.target_ms is None else f"< {latency.target_ms:.0f} ms"
        lines.append(
            _row(
                WEB,
                f"  {route}",
                f"{latency.requests:,}",
                f"{latency.failures:,}",
                f"{latency.kept:,}",
                _ms(latency.p50_ms),
                _ms(latency.p95_ms),
                _ms(latency.p99_ms),
                target,
            )
        )
    web_cpu = ", ".join(f"{role} {seconds:.1f} s" for role, seconds in run.web.cpu.items())
    lines.append(f"  CPU meanwhile: {web_cpu}")
    lines.append(
        f"  one-click POSTs answered 2xx: {run.web.one_clicks:,} in all; members they were "
        f"for who now follow no topic: {run.web.unsubscribed:,}"
    )
    if drop is not None:
        lines.append(f"  the send's msg/s under this load: {drop:.0%} lower than without it")
    return lines


def _row(widths: tuple[int, ...], *cells: str) -> str:
    head = "".join(
        cell.ljust(width) if i == 0 else cell.rjust(width)
        for i, (cell, width) in enumerate(zip(cells, widths, strict=False))
    )
    return f"  {head}  {cells[-1]}".rstrip()


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


def _details(results: Results) -> list[str]:
    lines = []
    large = max(results.sizes)
    for setup, run in results.ours.get(large, {}).items():
        broker = f" + broker file {run.broker_bytes / 1e6:.1f} MB" if run.broker_bytes else ""
        show, query = run.sends_show_ms, run.sends_show_query_ms
        runs = ", ".join(f"{ms:.0f}" for ms in run.sends_show_runs_ms)
        lines += [
            f"{LABELS[setup]}, N={large:,}:",
            f"    database after the run {run.database_bytes / 1e6:.0f} MB{broker}",
            f"    `sends show --json` median {show:.0f} ms ({runs}), its query {query:.1f} ms",
            f"    `digest run` process {run.digest_command_seconds:.1f} s; "
            f"the sink took {run.sink_accepted:,} messages",
        ]
    found = growth(results)
    if found:
        ways = ", ".join(f"{s} x{r:.1f}" for s, r in found.items() if s != "linear")
        small = min(results.sizes)
        lines.append(f"time N={small:,} -> {large:,} (linear: x{found['linear']:.0f}): {ways}")
    return lines

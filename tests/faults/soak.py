"""`make soak`: every fault scenario of tests/faults, N times, with randomised fault timing.

    SOAK_RUNS=30      rounds (default 30); each round runs every scenario once
    SOAK_SEED=S       the first round's seed (default: drawn, and printed); round i uses S+i
    SOAK_ONLY=EXPR    only the scenarios a pytest -k expression selects
    SOAK_PARALLEL=N   scenarios run side by side in a round (default 2, as in `make test`)

Each round is one pytest session over tests/faults with SOAK_SEED set: its own PostgreSQL
cluster and Redis server, and for each scenario a fresh database, Redis database, SMTP server,
workers and beat. Every scenario draws its fault timing (kill point, refusal pattern, restart
moment and length...) from the round's seed and its own name (chaos.py), so
`SOAK_SEED=<a run's seed> SOAK_RUNS=1 SOAK_ONLY=<scenario>` replays that run's faults exactly.

Results: var/soak/<seed>.jsonl (one line per scenario run: figures.Figures) and
var/soak/<seed>.md, the tables (rewritten after every round, so an interrupted soak still
reports what it ran). The working files of a round with a failure stay in var/soak/<seed>-<i>/.

A soak takes hours, longer than a machine may stay up or a session may last: run it again with
the same SOAK_SEED (and SOAK_ONLY) and it goes on from the first round that did not finish,
keeping the finished rounds (var/soak/<seed>.rounds.jsonl) and their figures. Each round is a
pytest session of its own, so a soak in several goes runs the same rounds as one in a single go.
To start a seed again from its first round, delete var/soak/<seed>.*.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.faults.figures import RESULTS_VARIABLE, percentile

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "var" / "soak"


@dataclass
class Round:
    seed: int
    seconds: float
    failed: list[str] = field(default_factory=list)
    only: str = ""


def main() -> int:
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop like Ctrl-C
    runs = int(os.environ.get("SOAK_RUNS", "30"))
    seed = int(os.environ.get("SOAK_SEED") or random.randrange(1, 1_000_000))
    only = os.environ.get("SOAK_ONLY", "")
    OUT.mkdir(parents=True, exist_ok=True)
    results = OUT / f"{seed}.jsonl"
    finished = OUT / f"{seed}.rounds.jsonl"
    rounds = finished_rounds(finished)
    if any(r.only != only for r in rounds):
        print(
            f"soak: SOAK_SEED={seed} was run with SOAK_ONLY={rounds[0].only!r}; use that, or "
            f"delete var/soak/{seed}.* to start again",
            file=sys.stderr,
        )
        return 2
    keep_figures_of(rounds, results)
    print(f"soak: {runs} rounds of tests/faults, seed {seed} (replay: SOAK_SEED={seed})")
    if rounds:
        print(
            f"soak: {len(rounds)} rounds already finished (var/soak/{seed}.rounds.jsonl); "
            f"going on from round {len(rounds) + 1}"
        )
    for index in range(len(rounds), runs):
        done = run_round(seed + index, results, only)
        rounds.append(done)
        with finished.open("a") as lines:
            lines.write(json.dumps(asdict(done)) + "\n")
        state = f"FAILED {', '.join(done.failed)}" if done.failed else "passed"
        print(f"round {index + 1}/{runs} (SOAK_SEED={done.seed}): {done.seconds:.0f} s, {state}")
        write_report(seed, rounds, results)
    write_report(seed, rounds, results)
    print(f"soak: report in {OUT / f'{seed}.md'}")
    return 1 if any(r.failed for r in rounds) else 0


def finished_rounds(path: Path) -> list[Round]:
    """The rounds an earlier go of this seed finished, in order."""
    if not path.exists():
        return []
    return [Round(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def keep_figures_of(rounds: list[Round], results: Path) -> None:
    """Drop the figures of a round that was cut off: it runs again from its start."""
    seeds = {str(r.seed) for r in rounds}
    kept = [item for item in load(results) if item["seed"] in seeds]
    results.write_text("".join(json.dumps(item) + "\n" for item in kept))


def side_by_side() -> list[str]:
    """pytest-xdist options: each scenario has its own servers, so N run at once."""
    count = int(os.environ.get("SOAK_PARALLEL", "2"))
    return ["-n", str(count), "--dist", "loadfile"] if count > 1 else []


def run_round(seed: int, results: Path, only: str) -> Round:
    work = OUT / f"{seed}"
    clear(work)
    work.mkdir(parents=True)
    junit = work / "junit.xml"
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "tests/faults",
        f"--basetemp={work / 'tmp'}",
        f"--junitxml={junit}",
        *(["-k", only] if only else []),
        *side_by_side(),
    ]
    env = {**os.environ, "SOAK_SEED": str(seed), RESULTS_VARIABLE: str(results)}
    begun = time.monotonic()
    with open(work / "pytest.log", "wb") as log:
        session = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            session.wait()
        except BaseException:  # interrupted: let pytest stop its servers and workers first
            session.send_signal(signal.SIGINT)
            session.wait(timeout=300)
            raise
    done = Round(seed, time.monotonic() - begun, failed_tests(junit), only)
    if not done.failed:
        clear(work)
    return done


def clear(work: Path) -> None:
    """Remove a round's working files, and first unmount what a round cut off left mounted
    there: the full-disk scenario's tmpfs, whose fixture did not get to unmount it."""
    for mount in sorted(mounts_under(work), reverse=True):
        subprocess.run(["umount", "-l", str(mount)], check=False)
    shutil.rmtree(work, ignore_errors=True)


def mounts_under(work: Path) -> list[Path]:
    inside = f"{work.resolve()}/"
    points = (line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines())
    return [Path(point) for point in points if point.startswith(inside)]


def failed_tests(junit: Path) -> list[str]:
    if not junit.exists():
        return ["(pytest did not finish)"]
    failed = []
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(case.get("name", "?"))
    return failed


def load(results: Path) -> list[dict[str, Any]]:
    if not results.exists():
        return []
    return [json.loads(line) for line in results.read_text().splitlines() if line.strip()]


def write_report(seed: int, rounds: list[Round], results: Path) -> None:
    figures = load(results)
    seconds = sum(r.seconds for r in rounds)
    lines = [
        f"Soak of tests/faults: {len(rounds)} rounds, SOAK_SEED={seed} (rounds "
        f"{seed}-{seed + len(rounds) - 1}), {seconds / 60:.0f} min "
        f"({seconds / max(1, len(rounds)) / 60:.1f} min a round).",
        "",
        *scenario_table(figures),
        "",
        *latency_table(figures),
        *losses(figures),
        *failures(rounds),
    ]
    (OUT / f"{seed}.md").write_text("\n".join(lines) + "\n")


def scenario_table(figures: list[dict[str, Any]]) -> list[str]:
    by_scenario: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in figures:
        by_scenario[item["scenario"]].append(item)
    lines = [
        "| scenario | runs | lost: total | worst | duplicated: total | worst | bound | "
        "over the bound | attempts (mean) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario, items in sorted(by_scenario.items(), key=in_scenario_order):
        over = sum(1 for i in items if i["duplicated"] > i["bound"])
        bounds = sorted({i["bound"] for i in items})
        bound = str(bounds[0]) if len(bounds) == 1 else f"{bounds[0]}-{bounds[-1]}"
        attempts = sum(i["attempts"] for i in items) / len(items)
        lines.append(
            f"| {scenario} | {len(items)} | {sum(i['lost'] for i in items)} | "
            f"{max(i['lost'] for i in items)} | {sum(i['duplicated'] for i in items)} | "
            f"{max(i['duplicated'] for i in items)} | {bound} | {over} | {attempts:,.0f} |"
        )
    return lines


def in_scenario_order(item: tuple[str, Any]) -> tuple[int, str]:
    """Scenario 2 before 10, 3a before 3b: the order of tests/faults and the README."""
    found = re.match(r"(\d+)(\S*)", item[0])
    return (int(found.group(1)), found.group(2)) if found else (sys.maxsize, item[0])


def latency_table(figures: list[dict[str, Any]]) -> list[str]:
    timed = [i for i in figures if i["latencies"]]
    if not timed:
        return []
    by_scenario: dict[str, list[float]] = defaultdict(list)
    for item in timed:
        by_scenario[item["scenario"]].extend(item["latencies"])
    lines = [
        "One-click unsubscribes, from the POST to its answer (seconds):",
        "",
        "| scenario | POSTs | p50 | p99 | max |",
        "|---|---|---|---|---|",
    ]
    for scenario, values in sorted(by_scenario.items(), key=in_scenario_order):
        lines.append(
            f"| {scenario} | {len(values)} | {percentile(values, 50):.3f} | "
            f"{percentile(values, 99):.3f} | {max(values):.3f} |"
        )
    return [*lines, ""]


def losses(figures: list[dict[str, Any]]) -> list[str]:
    lost = [i for i in figures if i["lost"]]
    if not lost:
        return ["No run lost anyone.", ""]
    lines = ["Runs with a loss (replay with their SOAK_SEED):", ""]
    for item in lost:
        lines.append(f"- {item['scenario']}, SOAK_SEED={item['seed']}: lost {item['lost']}")
        lines.append(f"  ({item['faults']}; {item['note']})")
        for address, status, attempts, error in item["unsent"]:
            lines.append(f"  - {address}: {status} after {attempts} attempts: {error}")
    return [*lines, ""]


def failures(rounds: list[Round]) -> list[str]:
    failed = [r for r in rounds if r.failed]
    if not failed:
        return ["Every test of every round passed."]
    lines = ["Rounds with a failed test (their files are kept in var/soak/<seed>/):", ""]
    lines += [f"- SOAK_SEED={r.seed}: {', '.join(r.failed)}" for r in failed]
    return lines


if __name__ == "__main__":
    sys.exit(main())

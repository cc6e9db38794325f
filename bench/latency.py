"""Web latency under load, from the requests the load generator made (bench/locustfile.py):
per route, the requests made while the send ran, their failures and their percentiles."""

from __future__ import annotations

import csv
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Targets of issue 21: p95 in ms, per route (the send page has none).
P95_TARGETS_MS = {"one-click": 100.0, "manage": 100.0, "dashboard": 300.0, "search": 300.0}
ROUTES = ("one-click", "manage", "dashboard", "search", "send page")


@dataclass(frozen=True)
class Request:
    route: str
    started: float  # seconds since the epoch
    ms: float
    status: int  # 0: no answer (connection refused, timed out)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class RouteLatency:
    route: str
    requests: int
    failures: int  # no answer, or an answer that is not 2xx
    kept: int  # 202: a one-click the web app kept, to apply a moment later
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    per_second: float

    @property
    def target_ms(self) -> float | None:
        return P95_TARGETS_MS.get(self.route)

    @property
    def held(self) -> bool | None:
        """Whether p95 is under the route's target with no failures; None: no target."""
        if self.target_ms is None:
            return None
        return self.p95_ms is not None and self.p95_ms < self.target_ms and self.failures == 0


def read_records(path: Path) -> list[Request]:
    """The load generator's `route,start,ms,status` lines."""
    with open(path, newline="") as lines:
        return [
            Request(route, float(started), float(ms), int(status))
            for route, started, ms, status in csv.reader(lines)
        ]


def percentiles(values: Iterable[float]) -> tuple[float, float, float] | None:
    """p50, p95 and p99 (interpolated between the nearest values); None with no values."""
    found = sorted(values)
    if not found:
        return None
    if len(found) == 1:
        return found[0], found[0], found[0]
    cuts = statistics.quantiles(found, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def summarise(requests: Iterable[Request], since: float, until: float) -> dict[str, RouteLatency]:
    """Per route, the requests started between `since` and `until` (the send's run): a failed
    request's time counts too, as it is what that user waited."""
    window = [r for r in requests if since <= r.started <= until]
    seconds = max(until - since, 1e-9)
    found = {}
    for route in [*ROUTES, *sorted({r.route for r in window} - set(ROUTES))]:
        mine = [r for r in window if r.route == route]
        if not mine and route not in ROUTES:
            continue
        cut = percentiles(r.ms for r in mine)
        found[route] = RouteLatency(
            route=route,
            requests=len(mine),
            failures=sum(not r.ok for r in mine),
            kept=sum(r.status == 202 for r in mine),
            p50_ms=cut[0] if cut else None,
            p95_ms=cut[1] if cut else None,
            p99_ms=cut[2] if cut else None,
            per_second=len(mine) / seconds,
        )
    return found


def throughput_drop(without: float, under_load: float) -> float:
    """How much slower the send ran under the web load, as a share of its rate without it."""
    return 1 - under_load / without

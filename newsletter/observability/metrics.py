"""The service's Prometheus metrics, and the calls that count.

Counting is cheap and never touches the database: the send path (~2,000 messages/s, ADR 0005)
counts a batch's outcomes once per batch and its replies once per few messages. What needs the
database (ledger rows, sends by state, queue depths) is read when /metrics is scraped, in
gauges.py. Metric names are checked against the alert rules and the dashboard in docs/.

In a worker's prefork pool each process counts into its own file (multiproc.py) and the
worker's metrics port adds them up.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    start_http_server,
)
from prometheus_client.registry import Collector

from newsletter.observability import multiproc

disable_created_metrics()  # the *_created series only double what a scrape carries

EMAILS = Counter(
    "newsletter_emails",
    "Emails by send kind and what became of each: sent (handed over), deferred, failed, "
    "suppressed, cancelled.",
    ["kind", "outcome"],
)
REPLIES = Counter(
    "newsletter_smtp_responses",
    "Replies of the email backend to each message, by class (2xx, 4xx, 5xx; none: the "
    "connection was lost before a reply).",
    ["class"],
)
HANDOVER_SECONDS = Histogram(
    "newsletter_handover_seconds",
    "Time to hand one message to the email backend (one SMTP transaction).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
INBOUND = Counter(
    "newsletter_inbound_reports",
    "What came back on the return path, by kind: hard_bounce, soft_bounce, complaint, "
    "auto_reply, unsubscribe, unknown.",
    ["kind"],
)
RUNS = Counter(
    "newsletter_runs", "Digest, reminder and other periodic runs, by outcome.", ["job", "outcome"]
)
RUN_SECONDS = Histogram(
    "newsletter_run_seconds",
    "How long each digest, reminder or periodic run took.",
    ["job"],
    buckets=(0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
HTTP_REQUESTS = Counter(
    "newsletter_http_requests",
    "Web requests by route, method and status.",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "newsletter_http_request_seconds",
    "Time to answer a web request, by route.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HEARTBEAT = Gauge(
    "newsletter_process_heartbeat_timestamp_seconds",
    "When this worker or beat last wrote its heartbeat (Unix time).",
    ["kind"],
    multiprocess_mode="mostrecent",
)
BEAT_TICKS = Counter("newsletter_beat_ticks", "Times beat looked at its schedule.")


def count_emails(kind: str, counts: Mapping[str, int]) -> None:
    """A batch's outcomes ({"sent": 240, "deferred": 10}) for a send of `kind`."""
    for outcome, count in counts.items():
        if count:
            EMAILS.labels(kind, str(outcome)).inc(count)


def reply_class(code: int | None) -> str:
    return f"{code // 100}xx" if code else "none"


def count_handovers(codes: Sequence[int | None], seconds: Sequence[float]) -> None:
    """Some messages handed over: the backend's reply code and the time each took."""
    classes: dict[str, int] = {}
    for code in codes:
        name = reply_class(code)
        classes[name] = classes.get(name, 0) + 1
    for name, count in classes.items():
        REPLIES.labels(name).inc(count)
    observe_many(HANDOVER_SECONDS, seconds)


def observe_many(histogram: Histogram, values: Sequence[float]) -> None:
    """histogram.observe() for each value, writing each bucket once: in multiprocess mode every
    write costs ~7 µs, and one observe() is two writes (~15 µs a message on the send path)."""
    if not values:
        return
    bounds: list[float] = histogram._upper_bounds  # type: ignore[attr-defined]
    counts = [0] * len(bounds)
    for value in values:
        counts[bisect_left(bounds, value)] += 1  # the first bucket whose bound >= value
    for bucket, count in zip(histogram._buckets, counts, strict=True):  # type: ignore[attr-defined]
        if count:
            bucket.inc(count)
    histogram._sum.inc(sum(values))  # type: ignore[attr-defined]


def count_inbound(kind: str) -> None:
    """One report processed on the return path (bounce, complaint, mailed unsubscribe...)."""
    INBOUND.labels(kind).inc()


@contextmanager
def timed_run(job: str) -> Iterator[None]:
    """Count a run of `job` (digest_daily, reminders...) and how long it took."""
    started = time.perf_counter()
    outcome = "failed"
    try:
        yield
        outcome = "ok"
    finally:
        RUN_SECONDS.labels(job).observe(time.perf_counter() - started)
        RUNS.labels(job, outcome).inc()


def count_request(route: str, method: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_SECONDS.labels(route).observe(seconds)


def heartbeat(kind: str) -> None:
    HEARTBEAT.labels(kind).set(time.time())


# Serving ----------------------------------------------------------------------------------


def process_registry() -> CollectorRegistry:
    """What this process (and, in multiprocess mode, its siblings) counted."""
    if not multiproc.in_use():
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def exposition(*extra: Collector) -> tuple[bytes, str]:
    """The text a scrape gets: the counted metrics, then any collectors read at scrape time."""
    body = generate_latest(process_registry())
    if extra:
        registry = CollectorRegistry(auto_describe=False)
        for collector in extra:
            registry.register(collector)
        body += generate_latest(registry)
    return body, CONTENT_TYPE_LATEST


def serve(port: int, host: str = "0.0.0.0") -> None:
    """A metrics port for a worker or beat (a thread of this process)."""
    start_http_server(port, addr=host, registry=process_registry())

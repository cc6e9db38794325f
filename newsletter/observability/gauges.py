"""Gauges read at scrape time: the ledger, sends by state, queue depths, heartbeats, incidents.

Served on the web app's /metrics only (one place reads the database for them, not every worker),
each from a few cheap queries (state.py). A source that cannot be read is reported by
newsletter_state_up{source} = 0 and its gauges are left out, rather than failing the scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from newsletter.config import Settings
from newsletter.db import session_scope
from newsletter.models import ProcessKind, utcnow
from newsletter.observability import heartbeat
from newsletter.observability.broker import BrokerUnreachable, queue_depths
from newsletter.observability.state import ledger_state

log = logging.getLogger(__name__)

UNFINISHED = ("pending", "sending", "deferred")


class StateCollector(Collector):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "newsletter_state_up",
            "Whether the scrape could read each source of the gauges (database, broker).",
            labels=["source"],
        )
        try:
            yield from self._database()
            up.add_metric(["database"], 1)
        except SQLAlchemyError as exc:
            log.warning("metrics: cannot read the database: %s", exc)
            up.add_metric(["database"], 0)
        try:
            yield self._queues()
            up.add_metric(["broker"], 1)
        except BrokerUnreachable as exc:
            log.warning("metrics: %s", exc)
            up.add_metric(["broker"], 0)
        yield up

    def _database(self) -> Iterator[Metric]:
        from newsletter import incidents

        now = utcnow()
        with session_scope(self.settings.DATABASE_URL) as session:
            ledger = ledger_state(session, now, self.settings)
            processes = heartbeat.processes(session, now, self.settings)
            open_incidents = incidents.open_counts(session)
        rows = GaugeMetricFamily(
            "newsletter_deliveries",
            "Ledger rows of running sends not yet done, by status.",
            labels=["status"],
        )
        for status in UNFINISHED:
            rows.add_metric([status], ledger.deliveries[status])
        yield rows
        yield _gauge(
            "newsletter_deliveries_stuck",
            "Rows taken by a worker more than SENDING_TIMEOUT_SECONDS ago and never answered.",
            ledger.stuck,
        )
        yield _gauge(
            "newsletter_deliveries_failed_recent",
            "Failed rows of sends running or finished in the last day.",
            ledger.failed_recently,
        )
        yield _gauge(
            "newsletter_oldest_pending_seconds",
            "How long the longest-waiting pending row of a running send has waited.",
            ledger.oldest_pending_age(now),
        )
        sends = GaugeMetricFamily("newsletter_sends", "Sends by state.", labels=["status"])
        for status, count in sorted(ledger.sends_by_status.items()):
            sends.add_metric([status], count)
        yield sends
        yield _gauge(
            "newsletter_workers_alive",
            "Workers whose heartbeat is recent.",
            sum(1 for p in processes if p.kind == ProcessKind.WORKER and p.alive),
        )
        beats = [p.last_seen_at.timestamp() for p in processes if p.kind == ProcessKind.BEAT]
        if beats:
            yield _gauge(
                "newsletter_beat_last_tick_timestamp_seconds",
                "When a beat last ticked (Unix time).",
                max(beats),
            )
        digests = GaugeMetricFamily(
            "newsletter_last_digest_timestamp_seconds",
            "When the latest digest send of each frequency was made (Unix time).",
            labels=["frequency"],
        )
        for frequency, last in ledger.last_digests.items():
            if last is not None:
                digests.add_metric([frequency], last["created_at"].timestamp())
        yield digests
        incident_gauge = GaugeMetricFamily(
            "newsletter_incidents_open", "Open incidents by kind.", labels=["kind"]
        )
        for kind, count in open_incidents.items():
            incident_gauge.add_metric([kind], count)
        yield incident_gauge

    def _queues(self) -> Metric:
        depths = GaugeMetricFamily(
            "newsletter_queue_messages", "Messages waiting in each queue.", labels=["queue"]
        )
        for queue, count in queue_depths(self.settings).items():
            depths.add_metric([queue], count)
        return depths


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)

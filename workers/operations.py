"""What a worker and beat do besides their tasks, for the people running them: heartbeats, a
metrics port, JSON logs when asked, and (in beat) the watch that tells admins what is wrong.

Liveness: each worker touches VAR_DIR/run/<node name>.alive every HEARTBEAT_SECONDS from its
main process's timer, and beat each time it ticks (at least as often); `newsletter health
worker|beat` reads them. Both also write their row in `process_heartbeat` (for status, /metrics
and the dashboard, across hosts).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import bootsteps, signals
from celery.beat import PersistentScheduler

from newsletter.config import get_settings
from newsletter.models import ProcessKind, utcnow

log = logging.getLogger(__name__)


class WorkerHeartbeat(bootsteps.StartStopStep):
    """The worker's heartbeat, on the main process's timer: if the worker's loop is stuck,
    the heartbeat stops and the liveness check says so."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        self.heartbeat: Any = None
        self.timer_ref: Any = None

    def start(self, worker: Any) -> None:
        from newsletter.observability.heartbeat import Heartbeat

        settings = get_settings()
        self.heartbeat = Heartbeat(ProcessKind.WORKER, worker.hostname, settings)
        self.heartbeat.beat(force=True)
        self.timer_ref = worker.timer.call_repeatedly(
            settings.HEARTBEAT_SECONDS, self.heartbeat.beat, priority=10
        )

    def stop(self, worker: Any) -> None:
        if self.timer_ref is not None:
            self.timer_ref.cancel()
        if self.heartbeat is not None:
            self.heartbeat.stop()


class HeartbeatScheduler(PersistentScheduler):
    """Celery's persistent schedule, with beat's heartbeat written as it ticks (and a tick at
    least every HEARTBEAT_SECONDS, however far off the next task is)."""

    def setup_schedule(self) -> None:
        from newsletter.observability.heartbeat import Heartbeat, node_name

        super().setup_schedule()
        settings = get_settings()
        self.heartbeat = Heartbeat(ProcessKind.BEAT, node_name(ProcessKind.BEAT), settings)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        from newsletter.observability import metrics

        interval: float = super().tick(*args, **kwargs)
        metrics.BEAT_TICKS.inc()
        self.heartbeat.beat()
        return min(interval, self.heartbeat.settings.HEARTBEAT_SECONDS)

    def close(self) -> None:
        super().close()
        self.heartbeat.stop()


# Signals ----------------------------------------------------------------------------------


@signals.worker_ready.connect
def _serve_worker_metrics(**_: object) -> None:
    """After the pool has started, so the pool processes do not inherit the listening socket."""
    from newsletter.observability import multiproc

    port = get_settings().METRICS_PORT
    if not port:
        return
    if not multiproc.in_use():
        log.error(
            "NEWSLETTER_METRICS_PORT is set but this worker was not started by `newsletter "
            "worker` (or with PROMETHEUS_MULTIPROC_DIR): its pool's counts would be lost, so "
            "no metrics port is opened"
        )
        return
    _serve_metrics(port)


@signals.worker_process_shutdown.connect
def _pool_process_ended(pid: int | None = None, **_: object) -> None:
    from newsletter.observability import multiproc

    multiproc.mark_process_dead(pid or 0)


@signals.beat_init.connect
def _beat_started(**_: object) -> None:
    settings = get_settings()
    if settings.METRICS_PORT:
        _serve_metrics(settings.METRICS_PORT)
    threading.Thread(target=_watch_forever, name="watch", daemon=True).start()


def _serve_metrics(port: int) -> None:
    from newsletter.observability import metrics

    metrics.serve(port)
    log.info("metrics on port %d", port)


def _watch_forever() -> None:
    """The watch, every WATCH_SECONDS, in a thread of beat: finding and telling must not hold
    up the schedule."""
    from newsletter import watch

    settings = get_settings()
    since = utcnow()
    while True:
        started = time.monotonic()
        try:
            found = watch.run(settings, since=since)
            log.info("watch: %d incidents found, %d told", len(found.findings), len(found.told))
        except Exception:
            log.exception("the watch failed; trying again in %g s", settings.WATCH_SECONDS)
        time.sleep(max(0.0, settings.WATCH_SECONDS - (time.monotonic() - started)))


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _log_format(**_: object) -> None:
    from newsletter.observability import logs

    logs.apply_format(get_settings())

"""The Celery app, configured from Settings: broker, queues, reliability options, beat schedule.

The database ledger is the truth, so there is no result backend and tasks carry ids only.
Messages are acknowledged after the task (acks_late) and re-delivered if a worker dies
(reject_on_worker_lost); a claim in the database makes the second run a no-op.

Queues: `urgent` (alert batches), `send` (digest, reminder and announcement batches), `fanout`
(turning a publish into deliveries) and `schedule` (beat's periodic checks). A worker consumes
all four by default; because each queue is polled in turn, a breaking alert's batches are taken
alongside a 100,000-member digest's instead of waiting behind all of them, and a deployment can
give `urgent` a worker of its own (`newsletter worker --queues urgent`).

With NEWSLETTER_BROKER_URL=embedded the broker is kombu's SQLAlchemy transport on a SQLite file
under VAR_DIR: no server to run, and the CLI, `newsletter worker` and `newsletter beat` share it
across processes (see docs/adr/0004-embedded-broker.md).

Importing this module creates no file and no table: the embedded broker's file and VAR_DIR are
made by the process that first uses them (`producer`, or a worker or beat starting).
"""

from __future__ import annotations

import fcntl
import os
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from celery import Celery, bootsteps, signals
from kombu import Connection, Exchange, Queue

from newsletter.config import EMBEDDED_BROKER, Settings, get_settings
from newsletter.dispatch import QUEUES
from workers.operations import HeartbeatScheduler, WorkerHeartbeat

TASKS_MODULE = "workers.tasks"


def broker_url(settings: Settings) -> str:
    if settings.BROKER_URL != EMBEDDED_BROKER:
        return settings.BROKER_URL
    return f"sqla+sqlite:///{settings.embedded_broker_path}"


def prepare_broker(settings: Settings) -> str:
    """The broker's URL, with the embedded broker's file and tables made first."""
    url = broker_url(settings)
    if settings.BROKER_URL == EMBEDDED_BROKER:
        _prepare_embedded_broker(url, settings.embedded_broker_path)
    return url


@lru_cache(maxsize=8)
def _prepare_embedded_broker(url: str, path: Path) -> None:
    """Create the broker's tables once, under a file lock: kombu creates them on first use
    without one, and a CLI and a worker starting together would race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with Connection(url, transport_options=_transport_options(embedded=True)) as connection:
            channel = connection.channel()
            for queue in task_queues():
                queue(channel).declare()
            channel.close()


def task_queues() -> list[Queue]:
    # One direct exchange per queue, so a message sent to one queue lands in that queue only.
    return [Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES]


def _transport_options(embedded: bool, settings: Settings | None = None) -> dict[str, object]:
    if embedded:
        # These reach sqlalchemy.create_engine: wait for a busy SQLite file instead of failing.
        # (So polling_interval cannot go here: see FastPolling.)
        return {"connect_args": {"timeout": 30}}
    assert settings is not None
    # Longer than any task: an unacknowledged message is handed out again only after this.
    return {"visibility_timeout": settings.BROKER_VISIBILITY_TIMEOUT}


def beat_schedule(settings: Settings) -> dict[str, dict[str, object]]:
    check = {"queue": "schedule", "expires": 55}  # a check nobody ran in time is just skipped
    return {
        # Not a crontab at DIGEST_HOUR: asked every minute, the digests due are made once even
        # when the run at their hour was killed, beat was down or the clock jumped
        # (delivery/digests.due_digest).
        "digests": {
            "task": "newsletter.run_due_digests",
            "schedule": timedelta(minutes=1),
            "options": check,
        },
        "deadline-reminders": {
            "task": "newsletter.run_reminders",
            "schedule": timedelta(minutes=1),
            "options": check,
        },
        "scheduled-sends": {
            "task": "newsletter.start_due_sends",
            "schedule": timedelta(seconds=settings.SCHEDULE_CHECK_SECONDS),
            "options": check,
        },
        "acknowledgement-chases": {
            "task": "newsletter.chase_acknowledgements",
            "schedule": timedelta(minutes=1),
            "options": check,
        },
        "end-pauses": {
            "task": "newsletter.end_pauses",
            "schedule": timedelta(minutes=1),
            "options": check,
        },
        "recovery-sweep": {
            "task": "newsletter.recovery_sweep",
            "schedule": timedelta(minutes=1),
            "options": check,
        },
        **inbound_schedule(settings),
    }


def inbound_schedule(settings: Settings) -> dict[str, dict[str, object]]:
    """Poll the bounce mailbox every IMAP_POLL_MINUTES, when one is configured."""
    if not settings.IMAP_HOST:
        return {}
    every = timedelta(minutes=settings.IMAP_POLL_MINUTES)
    return {
        "inbound-poll": {
            "task": "newsletter.poll_inbound",
            "schedule": every,
            # A poll nobody ran before the next one is due is skipped: the next one reads all.
            "options": {"queue": "schedule", "expires": max(30.0, every.total_seconds() - 5)},
        }
    }


EMBEDDED_POLLING_SECONDS = 0.05


class FastPolling(bootsteps.StartStopStep):
    """Poll the embedded broker every 50 ms instead of kombu's default second.

    Polling once a second capped a 2-process worker at ~500 messages/s in bench/ (batches
    arrived exactly 1 s apart). kombu's SQLAlchemy transport hands every transport option to
    create_engine, so the interval is set on the live transport here instead.
    """

    requires = {"celery.worker.consumer.connection:Connection"}

    def start(self, consumer: Any) -> None:
        consumer.connection.transport.polling_interval = EMBEDDED_POLLING_SECONDS


def make_app(settings: Settings) -> Celery:
    embedded = settings.BROKER_URL == EMBEDDED_BROKER
    app = Celery("newsletter", broker=broker_url(settings), include=[TASKS_MODULE])
    app.conf.update(
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=task_queues(),
        task_default_queue="send",
        task_default_exchange="send",
        task_default_routing_key="send",
        broker_transport_options=_transport_options(embedded, settings),
        broker_connection_retry_on_startup=True,
        # The embedded transport has no broadcast: no remote control, no mingle or gossip.
        worker_enable_remote_control=not embedded,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
        timezone=settings.TIMEZONE,
        enable_utc=True,
        beat_schedule=beat_schedule(settings),
        beat_schedule_filename=str(settings.VAR_DIR / "celerybeat-schedule"),
        beat_scheduler=HeartbeatScheduler,
    )
    app.steps["worker"].add(WorkerHeartbeat)
    if embedded:
        app.steps["consumer"].add(FastPolling)
    return app


app = make_app(get_settings())


@lru_cache(maxsize=4)
def _producer_for(url: str) -> Celery:
    return make_app(get_settings())


def producer() -> Celery:
    """The app to send tasks with, for the settings in force now (tests change them)."""
    url = prepare_broker(get_settings())
    return app if url == app.conf.broker_url else _producer_for(url)


@signals.import_modules.connect
def _prepare_process(**_: object) -> None:
    """A worker or beat starting (before its consumer or schedule opens): VAR_DIR, where beat
    keeps its schedule file, and the broker's tables."""
    settings = get_settings()
    settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
    prepare_broker(settings)


# Is a worker running? -----------------------------------------------------------------------


def _pid_dir(settings: Settings) -> Path:
    from newsletter.observability.heartbeat import run_dir

    return run_dir(settings)


@signals.worker_init.connect
def _warm_up(**_: object) -> None:
    from newsletter.delivery.warm_up import warm_up

    warm_up(get_settings())


@signals.worker_ready.connect
def _worker_ready(**_: object) -> None:
    folder = _pid_dir(get_settings())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"worker-{os.getpid()}.pid").write_text(str(os.getpid()))


@signals.worker_shutdown.connect
def _worker_shutdown(**_: object) -> None:
    (_pid_dir(get_settings()) / f"worker-{os.getpid()}.pid").unlink(missing_ok=True)


def worker_running(settings: Settings) -> bool:
    """Embedded: a live worker process on this machine; Redis: a worker answering a ping."""
    if settings.BROKER_URL != EMBEDDED_BROKER:
        return bool(producer().control.ping(timeout=1.0))
    for pid_file in _pid_dir(settings).glob("worker-*.pid"):
        try:
            os.kill(int(pid_file.read_text()), 0)
            return True
        except (ProcessLookupError, ValueError):
            pid_file.unlink(missing_ok=True)
        except PermissionError:
            return True
    return False

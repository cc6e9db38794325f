"""`newsletter worker` and `newsletter beat`: run Celery with the project's configuration."""

from __future__ import annotations

import typer

from newsletter.cli.common import check_ready
from newsletter.config import EMBEDDED_BROKER, get_settings

ALL_QUEUES = "urgent,fanout,send,schedule"


def worker(
    concurrency: int = typer.Option(0, "--concurrency", "-c", help="Processes (0: one per CPU)."),
    queues: str = typer.Option(ALL_QUEUES, "--queues", "-Q", help="Comma-separated queues."),
    loglevel: str = typer.Option("info", "--loglevel", "-l"),
) -> None:
    """Run a worker: it sends the queued emails (start one per machine; more scale out)."""
    check_ready(database=True, broker=True, email=True)
    from workers.celery_app import app

    argv = ["worker", "--loglevel", loglevel, "--queues", queues]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    if get_settings().BROKER_URL == EMBEDDED_BROKER:
        argv += ["--without-mingle", "--without-gossip"]
    app.worker_main(argv)


def beat(loglevel: str = typer.Option("info", "--loglevel", "-l")) -> None:
    """Run the clock: digests, reminders, scheduled sends and the recovery sweep, on time."""
    check_ready(database=True, broker=True)
    from workers.celery_app import app

    app.start(["beat", "--loglevel", loglevel])

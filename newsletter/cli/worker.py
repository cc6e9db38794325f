"""`newsletter worker` and `newsletter beat`: run Celery with the project's configuration."""

from __future__ import annotations

import os

import typer

from newsletter.cli.common import check_ready
from newsletter.config import EMBEDDED_BROKER, ENV_PREFIX, get_settings
from newsletter.dispatch import QUEUES
from newsletter.models import ProcessKind

ALL_QUEUES = ",".join(QUEUES)


def metrics_port_option() -> int | None:
    return typer.Option(
        None,
        "--metrics-port",
        min=0,
        max=65535,
        help="Serve Prometheus metrics on this port (default NEWSLETTER_METRICS_PORT; 0: none).",
    )


def _use_metrics_port(port: int | None) -> int:
    """The port this process serves metrics on: the option wins over the setting."""
    if port is not None:
        os.environ[ENV_PREFIX + "METRICS_PORT"] = str(port)
        get_settings.cache_clear()
    return get_settings().METRICS_PORT


def worker(
    concurrency: int = typer.Option(0, "--concurrency", "-c", help="Processes (0: one per CPU)."),
    queues: str = typer.Option(ALL_QUEUES, "--queues", "-Q", help="Comma-separated queues."),
    loglevel: str = typer.Option("info", "--loglevel", "-l"),
    name: str | None = typer.Option(
        None,
        "--name",
        "-n",
        help="Node name, unique among workers (default worker@HOST-PID; NAME alone: NAME@HOST).",
    ),
    metrics_port: int | None = metrics_port_option(),
) -> None:
    """Run a worker: it sends the queued emails (start one per machine; more scale out)."""
    check_ready(database=True, broker=True, email=True)
    if _use_metrics_port(metrics_port):
        from newsletter.observability import multiproc

        # Before anything imports the metrics (Celery imports them with the tasks): the pool
        # processes it forks then count into files the worker's metrics port adds up.
        multiproc.use_folder(get_settings(), "worker")
    from newsletter.observability.heartbeat import node_name
    from workers.celery_app import app

    argv = [*_quiet(), "worker", "--loglevel", loglevel, "--queues", queues]
    argv += ["--hostname", node_name(ProcessKind.WORKER, name)]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    if get_settings().BROKER_URL == EMBEDDED_BROKER:
        argv += ["--without-mingle", "--without-gossip"]
    app.worker_main(argv)


def beat(
    loglevel: str = typer.Option("info", "--loglevel", "-l"),
    metrics_port: int | None = metrics_port_option(),
) -> None:
    """Run the clock: digests, reminders, scheduled sends and the recovery sweep, on time."""
    _use_metrics_port(metrics_port)
    check_ready(database=True, broker=True)
    from workers.celery_app import app

    app.start([*_quiet(), "beat", "--loglevel", loglevel])


def _quiet() -> list[str]:
    """JSON logs: every line on the output is JSON, so no start-up banner."""
    from newsletter.observability import logs

    settings = get_settings()
    logs.configure_root(settings)
    return ["--quiet"] if settings.LOG_FORMAT == "json" else []

"""`newsletter serve`: the web app (preference centre, staff console, JSON API) under uvicorn."""

from __future__ import annotations

from typing import Any

import typer

from newsletter.cli.common import check_ready


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
) -> None:
    """Serve the web app until stopped (Ctrl-C)."""
    # docker-compose.yml starts the web app only once its `migrate` job has finished, so an
    # unmigrated database here is a mistake to name, not a race to wait out. The broker is
    # checked too: publishing from the console queues the alerts.
    from newsletter.config import get_settings
    from newsletter.observability import logs, multiproc

    check_ready(database=True, broker=True, email=True)
    settings = get_settings()
    # Before anything imports the metrics (the app does): uvicorn's worker processes count
    # requests into files that /metrics adds up.
    multiproc.use_folder(settings, "web")
    import uvicorn

    options: dict[str, Any] = {}
    log_config = logs.uvicorn_config(settings)
    if log_config is not None:
        options["log_config"] = log_config
    uvicorn.run(
        "newsletter.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        server_header=False,
        **options,
    )

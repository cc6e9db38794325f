"""`newsletter serve`: the web app (preference centre, staff console, JSON API) under uvicorn."""

from __future__ import annotations

from typing import Any

import typer

from newsletter.cli.common import warn
from newsletter.db import NotMigrated, ensure_migrated


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
) -> None:
    """Serve the web app until stopped (Ctrl-C)."""
    import uvicorn

    from newsletter.config import get_settings
    from newsletter.observability import logs, multiproc

    settings = get_settings()
    # uvicorn's worker processes count requests into files /metrics adds up.
    multiproc.use_folder(settings, "web")
    try:
        ensure_migrated()
    except NotMigrated as exc:
        # Still start: a container may be up before the migration job has finished.
        warn(str(exc))
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

"""The product's web app, with the time each request took from its arrival to its answer.

    uvicorn tests.faults.timed_web:create_app --factory    (TIMED_REQUESTS=<file>)

Each request appends "METHOD PATH SECONDS" to the file: what the one-click unsubscribes of the
fault scenarios report as their latency, without the client's own waits on a loaded machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response

from newsletter.web.app import create_app as create_product_app

FILE_VARIABLE = "TIMED_REQUESTS"
FACTORY = "tests.faults.timed_web:create_app"


def create_app() -> FastAPI:
    app = create_product_app()
    out = Path(os.environ[FILE_VARIABLE])

    @app.middleware("http")
    async def timed(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        began = time.monotonic()
        response = await call_next(request)
        took = time.monotonic() - began
        with open(out, "a") as log:
            log.write(f"{request.method} {request.url.path} {took:.4f}\n")
        return response

    return app


def unsubscribe_latencies(path: Path) -> list[float]:
    """Seconds each one-click POST took in the app, from arrival to answer."""
    if not path.exists():
        return []
    lines = (line.split() for line in path.read_text().splitlines())
    return [
        float(took)
        for method, route, took in lines
        if method == "POST" and "/unsubscribe/" in route
    ]

"""The app's route table as the access tests read it: which pages are public, and every route
inside the included routers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# Pages anyone may open; every other route must refuse a visitor who has not signed in.
# (/healthz, /readyz and /metrics are for probes and Prometheus: the proxy keeps them inside.)
PUBLIC = re.compile(
    r"^/($|subscribe|confirm/|acknowledge/|manage|unsubscribe/|articles|topics/|static|openapi\.json"
    r"|staff/login$|staff/password-reset|webhooks/|healthz$|readyz$|metrics$|feeds/|calendar/|archive)"
)


def all_routes(routes: list[Any]) -> Iterator[Any]:
    """Every route, looking inside included routers (newer FastAPI nests them)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from all_routes(inner.routes)
        else:
            yield route

"""For the people and machines that run the service: /healthz (liveness), /readyz (readiness,
naming each dependency checked) and /metrics (Prometheus).

Keep them off the public internet at the reverse proxy (docs/operations.md): they need no login.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from newsletter.observability import health, metrics
from newsletter.observability.gauges import StateCollector

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz() -> JSONResponse:
    """The process answers: nothing else is checked (a liveness probe must not fail because
    the database is down, or every web process would be restarted for nothing)."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    checks = health.readiness(request.app.state.settings)
    failing = [check.name for check in checks if not check.ok]
    body = {
        "status": "failing" if failing else "ok",
        "failing": failing,
        "checks": [check.as_json() for check in checks],
    }
    return JSONResponse(body, status_code=503 if failing else 200)


@router.get("/metrics")
def prometheus(request: Request) -> Response:
    body, content_type = metrics.exposition(StateCollector(request.app.state.settings))
    return Response(body, media_type=content_type)

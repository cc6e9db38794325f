"""ASGI middleware: refuse oversized request bodies, and add security headers to every answer."""

from __future__ import annotations

import re
import time

from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 5 * 1024 * 1024


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The upload is larger than {limit // (1024 * 1024)} MB.")


class BodyLimitMiddleware:
    """Refuse bodies over the limit before they are read into memory.

    A declared Content-Length over the limit is refused at once; a body without one (chunked)
    is counted as it streams in and refused as soon as it passes the limit. BodyTooLarge is
    an HTTPException, so FastAPI's body reading lets it through as a 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            response = PlainTextResponse(BodyTooLarge(self.max_bytes).detail, status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)


# Pages load nothing from elsewhere; the email preview frame is the only page we frame.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)


# A year, the value browsers' preload lists ask for; sent in production only, where BASE_URL
# is https (config.production_problem), so a developer's http://localhost is never pinned.
STRICT_TRANSPORT_SECURITY = b"max-age=31536000; includeSubDomains"
# Pages anyone may keep a copy of: the public archive and static files. Every other page
# (staff console, a member's manage, confirm and unsubscribe pages, the API) may show
# someone's data, so no browser or proxy cache keeps it.
CACHEABLE = re.compile(r"^/(static/.*|articles(/.*)?|topics/.*)?$")


def cache_control(path: str) -> bytes | None:
    return None if CACHEABLE.match(path) else b"no-store"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, production: bool = False) -> None:
        self.app = app
        self.production = production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        ]
        no_store = cache_control(scope["path"])
        if no_store:
            extra.append((b"cache-control", no_store))
        if self.production:
            extra.append((b"strict-transport-security", STRICT_TRANSPORT_SECURITY))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in extra:
                    if name not in present:
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestMetricsMiddleware:
    """Count each request by route (its template, e.g. /staff/sends/{send_id}), method and
    status, and time it. Requests no route matched count as "unmatched"."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from newsletter.observability import metrics

        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics.count_request(route, scope["method"], status, time.perf_counter() - started)

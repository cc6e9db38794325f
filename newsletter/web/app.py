"""The FastAPI application: members' pages, staff console and JSON API in one app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from newsletter import member_requests
from newsletter.config import Settings, get_settings
from newsletter.web import acknowledgements, api, errors, feeds, ops, past_emails, public, webhooks
from newsletter.web.auth import SESSION_COOKIE, SESSION_MAX_AGE
from newsletter.web.console.routers import routers as console_routers
from newsletter.web.middleware import (
    BodyLimitMiddleware,
    RequestMetricsMiddleware,
    SecurityHeadersMiddleware,
)
from newsletter.web.templating import STATIC_DIR


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """While the app runs, members' requests kept during a database outage are applied as
    soon as it is back (newsletter.member_requests)."""
    task = asyncio.create_task(member_requests.keep_applying())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Newsletter API",
        version="1.0",
        description="Articles, members and sends for integrations. "
        "Authenticate with `Authorization: Bearer <token>`; admins create tokens in the console.",
        # The interactive docs load scripts from a CDN; the schema is at /openapi.json.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    # Added innermost first: the body limit wraps everything, so it acts before any reading.
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        path="/staff",
        same_site="lax",
        # By environment: production is https (checked at start-up); a developer's http
        # localhost would never get a Secure cookie back.
        https_only=settings.is_production,
    )
    app.add_middleware(SecurityHeadersMiddleware, production=settings.is_production)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(RequestMetricsMiddleware)  # outermost: counts every answer, 413s too
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(ops.router)
    app.include_router(public.router)
    app.include_router(acknowledgements.router)
    app.include_router(feeds.router)
    app.include_router(past_emails.router)
    for router in console_routers:
        app.include_router(router)
    app.include_router(api.router)
    app.include_router(webhooks.router)
    errors.install(app)
    return app

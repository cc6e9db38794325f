"""How errors are answered: a plain page for people, JSON under /api, never a traceback."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from newsletter.api_tokens import verify_token
from newsletter.db import session_scope
from newsletter.links import BadLink
from newsletter.web.api.auth import bearer, unauthorised
from newsletter.web.auth import LoginRequired
from newsletter.web.templating import render

TITLES = {
    400: "Something is not right with that request",
    403: "You cannot do that",
    404: "Page not found",
    405: "Page not found",
    413: "That upload is too large",
    429: "Too many requests",
}


GENERIC_DETAILS = {"Not Found", "Method Not Allowed"}
DEFAULT_MESSAGES = {
    404: "There is nothing at this address.",
    405: "There is nothing at this address.",
}


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def error_page(request: Request, status_code: int, message: str) -> Response:
    title = TITLES.get(status_code, "Something went wrong")
    context = {"title": title, "message": message, "status_code": status_code}
    return render(request, "error.html", context, status_code)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if is_api(request):
        return await http_exception_handler(request, exc)
    # Starlette's own details ("Not Found", "Method Not Allowed") say less than our titles.
    message = (
        exc.detail
        if exc.detail not in GENERIC_DETAILS
        else DEFAULT_MESSAGES.get(exc.status_code, "")
    )
    response = error_page(request, exc.status_code, message)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def _token_is_valid(request: Request, plaintext: str) -> bool:
    with session_scope(request.app.state.settings.DATABASE_URL) as session:
        return verify_token(session, plaintext) is not None


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if is_api(request):
        # FastAPI reads and validates the body before any dependency runs, so without this an
        # anonymous caller would learn about the API's validation before being refused.
        credentials = await bearer(request)
        if credentials is None or not await run_in_threadpool(
            _token_is_valid, request, credentials.credentials
        ):
            return await http_exception_handler(request, unauthorised())
        return await request_validation_exception_handler(request, exc)
    # A page's path or query parameter of the wrong type: /articles/abc is simply not there.
    if any(error.get("loc", ("",))[0] == "path" for error in exc.errors()):
        return error_page(request, 404, "There is nothing at this address.")
    return error_page(request, 400, "Some of the values in the address are not valid.")


async def on_bad_link(request: Request, exc: Exception) -> Response:
    message = (
        "This link has expired. Links to confirm a subscription last a week: "
        "subscribe again and we will send you a new one."
        if isinstance(exc, BadLink) and exc.expired
        else "This link is not valid. It may have been copied incompletely, or replaced by a "
        "newer one. You can ask for a fresh link to manage your emails."
    )
    context = {"title": "This link is not valid", "message": message, "status_code": 400}
    return render(request, "error.html", context | {"offer_manage_link": True}, 400)


async def on_login_required(request: Request, exc: Exception) -> Response:
    if request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/staff/login?next={_quote(target)}", status_code=303)
    return RedirectResponse("/staff/login", status_code=303)


def _quote(target: str) -> str:
    from urllib.parse import quote

    return quote(target, safe="")


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(BadLink, on_bad_link)
    app.add_exception_handler(LoginRequired, on_login_required)

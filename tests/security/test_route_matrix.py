"""Access control, from the route table: every staff and API route against every kind of caller,
with the outcome each must get.

tests/web/test_access.py already proves anonymous callers are turned away everywhere and comms
staff are refused every admin page; this adds the rest of the matrix: comms staff reach the
console, admins reach all of it, an API token opens the API and nothing else, and a staff
session opens no API route.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi.testclient import TestClient

from newsletter.api_tokens import create_token
from newsletter.db import session_scope
from newsletter.web.app import create_app
from tests.support.routes import PUBLIC, all_routes
from tests.web.helpers import csrf_of

# Values for path parameters that name nothing: a request reaches its handler, which finds
# nothing to change, so walking the whole table changes nothing either.
NOTHING = {"slug": "no-such-topic", "email": "nobody@example.com"}
LAST = "/staff/logout"  # ends the session: tried after everything else

ALLOWED, LOGIN, FORBIDDEN, NO_TOKEN = "allowed", "login", "forbidden", "no token"


def routes() -> Iterator[tuple[str, str]]:
    found = []
    for route in all_routes(create_app().routes):
        if PUBLIC.match(route.path):
            continue
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method != "HEAD":
                found.append((method, route.path))
    yield from sorted(found, key=lambda r: (r[1] == LAST, r))


def expected(caller: str, path: str) -> str:
    """The matrix: what each caller must get from each kind of route."""
    if path.startswith("/api/"):
        return ALLOWED if caller == "api token" else NO_TOKEN
    if caller in ("anonymous", "api token") or path == LAST:
        return LOGIN  # signing out ends on the sign-in page too
    if path.startswith("/staff/admin/") and caller == "comms":
        return FORBIDDEN
    return ALLOWED


def outcome(status: int, location: str) -> str:
    if status == 401:
        return NO_TOKEN
    if status == 403:
        return FORBIDDEN
    if status == 303 and location.startswith("/staff/login"):
        return LOGIN
    assert status < 500, status
    return ALLOWED  # reached the handler: 200, a redirect elsewhere, 400, 404, 405, 422...


def walk(client: TestClient, caller: str, headers: dict[str, str]) -> list[str]:
    """Every staff and API route as this caller; returns the ones whose outcome is wrong."""
    wrong = []
    for method, path in routes():
        url = re.sub(r"\{([^}]+)\}", lambda m: NOTHING.get(m.group(1), "999999"), path)
        data = {"csrf_token": headers.get("x-csrf-token", "")} if method == "POST" else None
        if path.startswith("/api/"):
            data = None
        response = client.request(method, url, data=data, headers=headers, follow_redirects=False)
        got = outcome(response.status_code, response.headers.get("location", ""))
        if got != expected(caller, path):
            wrong.append(f"{caller} {method} {path}: {got} ({response.status_code})")
    return wrong


def test_the_walk_covers_console_admin_and_api_routes() -> None:
    kinds = {expected("comms", path) for _, path in routes()}
    assert kinds == {ALLOWED, FORBIDDEN, NO_TOKEN, LOGIN}
    assert len(list(routes())) > 40


def test_comms_staff_reach_the_console_but_no_admin_page_and_no_api(comms: TestClient) -> None:
    token = csrf_of(comms.get("/staff").text)
    assert walk(comms, "comms", {"x-csrf-token": token}) == []


def test_admins_reach_every_console_page_but_no_api_without_a_token(admin: TestClient) -> None:
    token = csrf_of(admin.get("/staff").text)
    assert walk(admin, "admin", {"x-csrf-token": token}) == []


def test_an_api_token_opens_the_api_and_nothing_else(client: TestClient, db_url: str) -> None:
    with session_scope(db_url) as session:
        _, token = create_token(session, "matrix", actor="test")
    assert walk(client, "api token", {"Authorization": f"Bearer {token}"}) == []

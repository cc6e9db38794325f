"""Driving the staff console from a TestClient as a browser would: a form submitted with its
CSRF token; an API token made on the admin page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from newsletter.api_tokens import SCOPES
from tests.web.helpers import csrf_of


def post(client: TestClient, page: str, url: str, data: dict[str, object], **kwargs: object):  # type: ignore[no-untyped-def]
    """Submit a form found on `page`, as a browser would, CSRF token included."""
    token = csrf_of(client.get(page).text)
    return client.post(url, data={**data, "csrf_token": token}, **kwargs)  # type: ignore[arg-type]


def new_token(
    admin: TestClient,
    name: str = "Website CMS",
    scopes: tuple[str, ...] = SCOPES,
    expires: str = "",
) -> str:
    page = admin.get("/staff/admin/tokens")
    form = {"name": name, "scope": list(scopes), "expires": expires}
    made = admin.post("/staff/admin/tokens", data={**form, "csrf_token": csrf_of(page.text)})
    assert made.status_code == 200
    found = re.search(r'<code class="token" id="new-token">([^<]+)</code>', made.text)
    assert found, "the new token is not shown"
    assert found.group(1) not in admin.get("/staff/admin/tokens").text  # shown once only
    return found.group(1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

"""Who may reach what: the route table proves no staff or API route answers anonymous requests,
comms staff cannot reach admin pages, and the session cookie and CSRF tokens do their jobs."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.db import session_scope
from newsletter.models import StaffRole, StaffUser, Suppression
from newsletter.web.app import create_app
from tests.support.routes import PUBLIC, all_routes
from tests.web.conftest import PASSWORD, make_staff, signed_in
from tests.web.helpers import csrf_of


def concrete(path: str) -> str:
    """A request path for a route path: each {parameter} filled with a plausible value."""
    return re.sub(r"\{[^}]+\}", "1", path)


def guarded_requests() -> list[tuple[str, str]]:
    requests = []
    for route in all_routes(create_app().routes):
        if PUBLIC.match(route.path):
            continue
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method != "HEAD":
                requests.append((method, route.path))
    return requests


def test_the_route_table_has_staff_admin_and_api_routes() -> None:
    paths = {path for _, path in guarded_requests()}
    assert any(p.startswith("/staff/admin/") for p in paths)
    assert any(p.startswith("/api/v1/") for p in paths)
    assert len(paths) > 25
    assert all(p.startswith(("/staff", "/api/")) for p in paths), paths


def test_no_staff_or_api_route_answers_an_anonymous_request(client: TestClient) -> None:
    for method, path in guarded_requests():
        response = client.request(method, concrete(path), follow_redirects=False)
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.headers["www-authenticate"] == "Bearer"
        else:
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/staff/login")


def test_a_made_up_api_token_is_refused(client: TestClient) -> None:
    for method, path in guarded_requests():
        if path.startswith("/api/"):
            response = client.request(
                method, concrete(path), headers={"Authorization": "Bearer nlt_made-up"}
            )
            assert response.status_code == 401, (method, path)


def test_comms_staff_cannot_reach_any_admin_page(comms: TestClient) -> None:
    admin_routes = [(m, p) for m, p in guarded_requests() if p.startswith("/staff/admin/")]
    token = csrf_of(comms.get("/staff").text)
    for method, path in admin_routes:
        response = comms.request(
            method, concrete(path), data={"csrf_token": token} if method == "POST" else None
        )
        assert response.status_code == 403, (method, path, response.status_code)
    assert comms.get("/staff").status_code == 200
    assert "/staff/admin/" not in comms.get("/staff").text  # no link to what they cannot open


def test_admins_reach_every_admin_page(admin: TestClient) -> None:
    for path in ("members", "members-import", "suppression", "staff", "topics", "tokens", "audit"):
        page = admin.get(f"/staff/admin/{path}")
        assert page.status_code == 200, path
    export = admin.get("/staff/admin/members-export.csv")
    assert export.status_code == 200 and export.text.startswith("email,name,role,topics")


def test_the_session_cookie_is_httponly_lax_and_limited_to_the_console(
    client: TestClient, db_url: str
) -> None:
    make_staff(db_url, "ann@example.org", StaffRole.COMMS)
    cookie = login_response(client, "ann@example.org", PASSWORD).headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/staff" in cookie
    assert "secure" not in cookie  # development: see tests/security/test_production_defaults.py


def login_response(client: TestClient, email: str, password: str):  # type: ignore[no-untyped-def]
    token = csrf_of(client.get("/staff/login").text)
    return client.post(
        "/staff/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def test_wrong_passwords_are_refused_then_rate_limited_and_never_logged(
    client: TestClient, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    make_staff(db_url, "bob@example.org", StaffRole.ADMIN)
    caplog.set_level(logging.DEBUG)

    answers = [
        login_response(client, "bob@example.org", f"guess-{i}").status_code for i in range(5)
    ]
    blocked = login_response(client, "bob@example.org", PASSWORD)

    assert answers == [400] * 5
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.text
    assert client.get("/staff", follow_redirects=False).status_code == 303
    assert PASSWORD not in caplog.text and "guess-1" not in caplog.text


def test_forms_without_the_csrf_token_change_nothing(admin: TestClient, db_url: str) -> None:
    refused = admin.post("/staff/admin/suppression", data={"email": "x@example.com"})
    forged = admin.post(
        "/staff/admin/suppression", data={"email": "x@example.com", "csrf_token": "forged"}
    )
    assert refused.status_code == forged.status_code == 403
    with session_scope(db_url) as session:
        assert session.scalar(select(Suppression)) is None


def test_signing_out_and_deactivation_end_the_session(admin: TestClient, db_url: str) -> None:
    token = csrf_of(admin.get("/staff").text)
    admin.post("/staff/logout", data={"csrf_token": token})
    assert admin.get("/staff", follow_redirects=False).status_code == 303

    signed_in(admin, "admin@example.org")
    with session_scope(db_url) as session:
        user = session.scalar(select(StaffUser).where(StaffUser.email == "admin@example.org"))
        assert user is not None
        user.active = False
    assert admin.get("/staff", follow_redirects=False).status_code == 303


def test_after_signing_in_you_land_where_you_were_going(client: TestClient, db_url: str) -> None:
    make_staff(db_url, "cat@example.org", StaffRole.ADMIN)
    first = client.get("/staff/admin/audit", follow_redirects=False)
    assert first.headers["location"] == "/staff/login?next=%2Fstaff%2Fadmin%2Faudit"
    page = client.get(first.headers["location"])
    answer = client.post(
        "/staff/login",
        data={
            "email": "cat@example.org",
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": "/staff/admin/audit",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/staff/admin/audit"
    evil = client.get("/staff/login?next=https://evil.example/")
    assert 'value="/staff"' in evil.text

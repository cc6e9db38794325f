"""Role defaults: admins choose a role's topics; the subscribe form ticks them, and new members
who come without topics (subscribe form, import, API) get them. Existing members never change."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from newsletter.db import session_scope
from newsletter.member_import import import_members
from tests.support.console import bearer, new_token
from tests.web.helpers import csrf_of, topics_of

SENCO = {"topic-assessment": "weekly", "topic-funding": "immediate"}


def role_id(admin: TestClient, name: str) -> int:
    found = re.search(
        rf'href="/staff/admin/roles/(\d+)">{name}<', admin.get("/staff/admin/roles").text
    )
    assert found, f"no role {name}"
    return int(found.group(1))


def set_defaults(admin: TestClient, name: str, choices: dict[str, str]) -> None:
    path = f"/staff/admin/roles/{role_id(admin, name)}"
    csrf = csrf_of(admin.get(path).text)
    saved = admin.post(path, data={**choices, "csrf_token": csrf})
    assert (
        saved.status_code == 200
        and "New members in this role start with these topics" in saved.text
    )


def ticked(html: str) -> dict[str, str]:
    pattern = r'<input type="radio"[^>]* name="(topic-[a-z-]+)" value="([a-z]*)" checked>'
    return {name: value for name, value in re.findall(pattern, html) if value}


def test_a_senco_subscribing_with_no_topics_gets_the_senco_defaults(
    admin: TestClient, db_url: str
) -> None:
    set_defaults(admin, "SENCO", SENCO)

    form = admin.get("/subscribe", params={"role": "senco"})
    subscribed = admin.post(
        "/subscribe", data={"email": "sam@example.com", "role": "SENCO"}, follow_redirects=False
    )

    assert ticked(form.text) == SENCO  # the form arrives with the role's topics ticked
    assert '<option value="SENCO">' in form.text and "/static/role_defaults.js" in form.text
    assert subscribed.status_code == 303
    assert topics_of(db_url, "sam@example.com") == {"assessment": "weekly", "funding": "immediate"}


def test_imports_and_the_api_use_the_defaults_for_new_members_only(
    admin: TestClient, db_url: str
) -> None:
    set_defaults(admin, "Phase leader", {"topic-itt": "daily"})
    auth = bearer(new_token(admin))
    first = admin.put(
        "/api/v1/members", json={"email": "old@example.com", "role": "Phase leader"}, headers=auth
    )
    admin.put(
        "/api/v1/members",
        json={"email": "own@example.com", "role": "Phase leader", "topics": {"npq": "weekly"}},
        headers=auth,
    )

    set_defaults(admin, "Phase leader", {"topic-careers": "weekly"})
    again = admin.put(
        "/api/v1/members", json={"email": "old@example.com", "role": "Phase leader"}, headers=auth
    )
    admin.put(
        "/api/v1/members", json={"email": "new@example.com", "role": "phase leader"}, headers=auth
    )
    with session_scope(db_url) as session:
        report = import_members(
            session,
            "email,role,topics\n"
            "csv@example.com,Phase leader,\n"
            "mine@example.com,Phase leader,funding:daily\n",
            consent_basis="association membership",
        )
        session.commit()

    assert (first.status_code, again.status_code) == (201, 200), first.text
    assert not report.errors and report.created == 2
    assert topics_of(db_url, "old@example.com") == {"itt": "daily"}  # never changed afterwards
    assert topics_of(db_url, "own@example.com") == {"npq": "weekly"}
    assert topics_of(db_url, "new@example.com") == {"careers": "weekly"}
    assert topics_of(db_url, "csv@example.com") == {"careers": "weekly"}
    assert topics_of(db_url, "mine@example.com") == {"funding": "daily"}


def test_bad_roles_and_defaults_are_named_beside_their_field(admin: TestClient) -> None:
    csrf = csrf_of(admin.get("/staff/admin/roles").text)

    empty = admin.post("/staff/admin/roles", data={"name": "  ", "csrf_token": csrf})
    twice = admin.post("/staff/admin/roles", data={"name": "senco", "csrf_token": csrf})
    added = admin.post("/staff/admin/roles", data={"name": "Head of year", "csrf_token": csrf})
    path = f"/staff/admin/roles/{role_id(admin, 'Head of year')}"
    odd = admin.post(path, data={"topic-npq": "hourly", "csrf_token": csrf})

    assert empty.status_code == 400 and "Enter the role&#39;s name." in empty.text
    assert twice.status_code == 400 and "There is already a role called" in twice.text
    assert added.status_code == 200 and "Head of year: default topics" in added.text
    assert odd.status_code == 400 and "Choose how often, or off." in odd.text
    assert ticked(admin.get(path).text) == {}  # nothing saved

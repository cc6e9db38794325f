"""The JSON API: tokens made by an admin in the console, articles, members and sends."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from newsletter.db import session_scope
from newsletter.models import Send, SendStatus
from tests.support.console import bearer, new_token
from tests.web.helpers import csrf_of

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "articles" / "npq-spring-applications.md"


def test_articles_are_imported_once_and_published(admin: TestClient) -> None:
    auth = bearer(new_token(admin))
    body = {"text": SAMPLE.read_text(), "filename": SAMPLE.name}

    first = admin.post("/api/v1/articles", json=body, headers=auth)
    again = admin.post("/api/v1/articles", json=body, headers=auth)

    assert first.status_code == 201, first.text
    article = first.json()
    assert article["created"] is True and article["status"] == "draft"
    assert article["title"].startswith("NPQ spring cohort")
    assert "npq" in article["topics"]
    assert again.status_code == 200 and again.json()["id"] == article["id"]

    published = admin.post(f"/api/v1/articles/{article['id']}/publish", headers=auth)
    assert published.status_code == 200 and published.json()["status"] == "published"
    assert admin.get(f"/articles/{article['id']}").status_code == 200  # the archive page

    withdrawn = admin.post(f"/api/v1/articles/{article['id']}/withdraw", headers=auth)
    assert withdrawn.json()["status"] == "withdrawn"
    assert admin.get(f"/articles/{article['id']}").status_code == 404
    assert admin.get("/api/v1/articles/999999", headers=auth).status_code == 404


def test_members_are_upserted_with_their_subscriptions(admin: TestClient) -> None:
    auth = bearer(new_token(admin))
    member = {"email": "Ann@Example.com", "name": "Ann", "topics": {"funding": "immediate"}}

    created = admin.put("/api/v1/members", json=member, headers=auth)
    updated = admin.put(
        "/api/v1/members",
        json={"email": "ann@example.com", "topics": {"npq": "weekly"}},
        headers=auth,
    )

    assert created.status_code == 201 and created.json()["status"] == "active"
    assert updated.status_code == 200
    assert updated.json()["topics"] == {"npq": "weekly"} and updated.json()["name"] == "Ann"
    assert admin.get("/api/v1/members/ann@example.com", headers=auth).json()["topics"] == {
        "npq": "weekly"
    }
    assert admin.get("/api/v1/members/nobody@example.com", headers=auth).status_code == 404

    unknown_topic = {"email": "bob@example.com", "topics": {"astrology": "daily"}}
    bad = admin.put("/api/v1/members", json=unknown_topic, headers=auth)
    assert bad.status_code == 422
    bad_address = admin.put("/api/v1/members", json={"email": "not-an-address"}, headers=auth)
    assert bad_address.status_code == 422 and "invalid email address" in bad_address.text


def test_sends_are_scheduled_read_and_cancelled(admin: TestClient, db_url: str) -> None:
    auth = bearer(new_token(admin))
    when = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    body = {"subject": "Conference", "body_markdown": "See you **there**.", "topics": ["npq"]}

    scheduled = admin.post("/api/v1/sends", json=body | {"scheduled_at": when}, headers=auth)
    assert scheduled.status_code == 201, scheduled.text
    send = scheduled.json()
    assert send["status"] == "scheduled" and send["kind"] == "announcement"
    assert admin.get(f"/api/v1/sends/{send['id']}", headers=auth).json()["subject"] == "Conference"
    assert [s["id"] for s in admin.get("/api/v1/sends", headers=auth).json()] == [send["id"]]

    cancelled = admin.post(f"/api/v1/sends/{send['id']}/cancel", headers=auth)
    assert cancelled.json()["status"] == "cancelled"
    with session_scope(db_url) as session:
        stored = session.get(Send, send["id"])
        assert stored is not None and stored.status == SendStatus.CANCELLED
        assert stored.created_by == "token:Website CMS"

    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    too_late = admin.post("/api/v1/sends", json=body | {"scheduled_at": past}, headers=auth)
    assert too_late.status_code == 422 and "past" in too_late.text
    naive = admin.post(
        "/api/v1/sends", json=body | {"scheduled_at": "2030-01-01T09:00"}, headers=auth
    )
    assert naive.status_code == 422


def test_a_revoked_token_stops_working(admin: TestClient) -> None:
    token = new_token(admin)
    assert admin.get("/api/v1/sends", headers=bearer(token)).status_code == 200

    page = admin.get("/staff/admin/tokens")
    token_id = re.search(r'action="/staff/admin/tokens/(\d+)/revoke"', page.text)
    assert token_id
    admin.post(
        f"/staff/admin/tokens/{token_id.group(1)}/revoke", data={"csrf_token": csrf_of(page.text)}
    )

    assert admin.get("/api/v1/sends", headers=bearer(token)).status_code == 401


def test_the_schema_describes_the_api_and_its_token(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/api/v1/articles", "/api/v1/members", "/api/v1/sends/{send_id}"} <= set(
        schema["paths"]
    )
    assert not any(path.startswith("/staff") for path in schema["paths"])
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"

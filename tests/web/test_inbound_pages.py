"""What staff see of the return path: the bounces & complaints page (search, filter, evidence),
the rates on a send's page with the complaint alert, the dashboard's policy blocks, and a
member's history."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.db import session_scope
from newsletter.inbound.process import process_message
from newsletter.models import (
    Delivery,
    DeliveryStatus,
    InboundEvent,
    InboundKind,
    Member,
    Send,
    SendKind,
    SendStatus,
    utcnow,
)
from tests.support.delivery_data import add_member

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "bounces"


@pytest.fixture(autouse=True)
def our_domain(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The corpus's messages came back to news-bounces@example.org."""
    from newsletter.config import get_settings

    monkeypatch.setenv("NEWSLETTER_FROM_ADDRESS", "School Leaders Network <news@example.org>")
    get_settings.cache_clear()


def replay(*names: str) -> None:
    for name in names:
        process_message((CORPUS / name).read_bytes(), "file")


def members(*emails: str) -> dict[str, int]:
    with session_scope() as session:
        return {e: add_member(session, e, {"funding": "immediate"}).id for e in emails}


def test_admins_find_each_bounce_and_its_evidence(admin: TestClient) -> None:
    ids = members("ann.archer@example.com", "lee.lam@gmail.example")
    replay("postfix-user-unknown.eml", "gmail-spam-block.eml", "human-reply.eml")

    page = admin.get("/staff/admin/bounces")
    assert page.status_code == 200
    assert "ann.archer@example.com" in page.text and "lee.lam@gmail.example" in page.text
    assert "a person&#39;s message" in page.text or "a person's message" in page.text

    only_hard = admin.get("/staff/admin/bounces", params={"kind": "hard_bounce"}).text
    assert "ann.archer@example.com" in only_hard and "lee.lam@gmail.example" not in only_hard
    found = admin.get("/staff/admin/bounces", params={"q": "unauthenticated"}).text
    assert "lee.lam@gmail.example" in found and "ann.archer@example.com" not in found

    with session_scope() as session:
        event_id = session.scalar(
            select(InboundEvent.id).where(InboundEvent.member_id == ids["ann.archer@example.com"])
        )
    evidence = admin.get(f"/staff/admin/bounces/{event_id}")
    assert (
        "User unknown in" in evidence.text
        and "Undelivered Mail Returned to Sender" in evidence.text
    )
    assert "suppressed (hard bounce)" in evidence.text

    member_page = admin.get(f"/staff/admin/members/{ids['ann.archer@example.com']}").text
    assert "Bounces and complaints" in member_page and "hard bounce" in member_page

    dashboard = admin.get("/staff").text
    assert "Blocked as spam or by policy" in dashboard and "gmail.example" in dashboard


def test_a_send_shows_its_complaint_rate_and_the_alert(admin: TestClient) -> None:
    emails = [f"m{i}@example.com" for i in range(10)]
    ids = members(*emails)
    with session_scope() as session:
        send = Send(kind=SendKind.ANNOUNCEMENT, status=SendStatus.SENT, subject="Conference")
        session.add(send)
        session.flush()
        for member_id in ids.values():
            session.add(
                Delivery(
                    send_id=send.id,
                    member_id=member_id,
                    status=DeliveryStatus.SENT,
                    sent_at=utcnow(),
                )
            )
        session.add(
            InboundEvent(
                message_key="test:1",
                source="file",
                kind=InboundKind.COMPLAINT,
                member_id=ids["m0@example.com"],
                send_id=send.id,
                email="m0@example.com",
            )
        )
        send_id = send.id
    page = admin.get(f"/staff/sends/{send_id}").text
    assert "1 (10.00%)" in page
    assert "above 0.3%" in page
    assert "rate-alert" in admin.get("/staff").text


def test_the_member_list_is_untouched_by_an_unknown_message(admin: TestClient) -> None:
    members("xena.xu@example.com")
    replay("forged-verp.eml")
    with session_scope() as session:
        xena = session.scalar(select(Member).where(Member.email == "xena.xu@example.com"))
        assert xena is not None and xena.status.value == "active"
    assert "forged or damaged return path" in admin.get("/staff/admin/bounces").text

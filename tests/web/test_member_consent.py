"""A member's consent in the console and the API: the record of every change shown, opt-outs
kept and reported (row by row, field by field), and an admin's one-member re-subscribe that
needs a written reason."""

from __future__ import annotations

import csv
import io
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter import preferences
from newsletter.consent import Change, by_member
from newsletter.db import session_scope
from newsletter.members import find_member, upsert_member
from newsletter.models import AuditEvent, ConsentSource, Frequency, MemberStatus, Send
from tests.support.console import bearer, new_token, post
from tests.support.delivery_data import fan_out_breaking
from tests.web.helpers import csrf_of, status_of, topics_of

KEPT = re.compile(
    r"funding: kept unsubscribed: the member opted out on \d{4}-\d\d-\d\d via one-click"
)


def ann_left_funding(db_url: str) -> int:
    """Ann, imported with funding and npq, then one-clicked out of funding; returns her id."""
    with session_scope(db_url) as session:
        topics = {"funding": Frequency.IMMEDIATE, "npq": Frequency.WEEKLY}
        upsert_member(
            session,
            "ann@example.com",
            "Ann",
            "SENCO",
            topics,
            change=Change(ConsentSource.IMPORT, "cli:test", reason="membership terms"),
        )
        session.commit()
        send_id = fan_out_breaking(session)
    with session_scope(db_url) as session:
        ann = find_member(session, "ann@example.com")
        send = session.get(Send, send_id)
        assert ann is not None and send is not None
        preferences.unsubscribe_from_send(session, ann, send)
        return ann.id


def audit_of(db_url: str, action: str) -> list[AuditEvent]:
    with session_scope(db_url) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_the_member_page_shows_the_consent_record_and_the_opt_outs(
    admin: TestClient, db_url: str
) -> None:
    ann = ann_left_funding(db_url)

    page = admin.get(f"/staff/admin/members/{ann}").text

    record = page[page.index("Consent record") :]
    assert record.index("one-click") < record.index("import")  # newest first
    assert "subscription funding" in record and "immediate → off" in record
    assert "cli:test" in record and "membership terms" in record
    assert "The member opted out themselves" in page
    assert "membership terms" in page[page.index("Consent</dt>") :]


def test_a_console_edit_keeps_the_opt_out_says_so_and_applies_the_rest(
    admin: TestClient, db_url: str
) -> None:
    ann = ann_left_funding(db_url)
    page = f"/staff/admin/members/{ann}"

    saved = post(
        admin,
        page,
        page,
        {"name": "Ann Archer", "status": "active", "topic-funding": "daily", "topic-npq": "daily"},
    )

    assert saved.status_code == 200
    assert "Kept unsubscribed" in saved.text and KEPT.search(saved.text)
    assert topics_of(db_url, "ann@example.com") == {"npq": "daily"}
    with session_scope(db_url) as session:
        member = find_member(session, "ann@example.com")
        assert member is not None and member.name == "Ann Archer"


def test_an_admin_re_subscribes_one_member_only_with_a_written_reason(
    admin: TestClient, db_url: str
) -> None:
    ann = ann_left_funding(db_url)
    page = f"/staff/admin/members/{ann}"
    form = {"status": "active", "topic-funding": "daily", "topic-npq": "weekly", "override": "yes"}

    refused = post(admin, page, page, form)
    assert refused.status_code == 400 and "Say why" in refused.text
    assert topics_of(db_url, "ann@example.com") == {"npq": "weekly"}

    reason = "asked us by phone on 3 December"
    done = post(admin, page, page, {**form, "reason": reason}, follow_redirects=False)
    assert done.status_code == 303
    assert topics_of(db_url, "ann@example.com") == {"funding": "daily", "npq": "weekly"}
    [override] = audit_of(db_url, "member.override_opt_out")
    assert override.actor == "staff:admin@example.org" and override.detail["reason"] == reason
    assert KEPT.search(override.detail["lifted"][0])
    record = admin.get(page).text
    assert reason in record[record.index("Consent record") :]
    assert "The member opted out themselves" not in record


def test_a_member_who_left_everything_is_made_active_only_by_an_override(
    admin: TestClient, db_url: str
) -> None:
    with session_scope(db_url) as session:
        done = upsert_member(session, "bob@example.com", topics={"npq": Frequency.WEEKLY})
        session.commit()
        preferences.unsubscribe_all(session, done.member, by_member(ConsentSource.MAILTO))
        bob = done.member.id
    page = f"/staff/admin/members/{bob}"

    kept = post(admin, page, page, {"status": "active", "topic-npq": "weekly"})
    assert "kept unsubscribed: the member opted out on" in kept.text and "via mailto" in kept.text
    assert status_of(db_url, "bob@example.com") == MemberStatus.UNSUBSCRIBED

    form = {"status": "active", "topic-npq": "weekly", "override": "yes", "reason": "rejoined"}
    post(admin, page, page, form)
    assert status_of(db_url, "bob@example.com") == MemberStatus.ACTIVE
    with session_scope(db_url) as session:
        member = find_member(session, "bob@example.com")
        assert member is not None and member.consent_basis == "rejoined"
        assert member.opted_out_at is None


def test_the_import_page_reports_kept_rows_and_takes_the_consent(
    admin: TestClient, db_url: str
) -> None:
    ann_left_funding(db_url)
    page = "/staff/admin/members-import"
    rows = (
        "email,name,role,topics\n"
        "ann@example.com,Ann,SENCO,funding:daily;npq:weekly\n"
        "cat@example.com,Cat,,careers:daily\n"
    )
    data = {"csrf_token": csrf_of(admin.get(page).text), "consent": "membership terms"}

    answer = admin.post(page, data=data, files={"file": ("m.csv", rows.encode(), "text/csv")})

    assert answer.status_code == 200
    assert "1 kept unsubscribed" in answer.text
    kept_row = re.search(r'<td class="num">2</td><td>(.*?)</td>', answer.text, re.S)
    assert kept_row and "ann@example.com" in kept_row.group(1) and KEPT.search(kept_row.group(1))
    assert status_of(db_url, "cat@example.com") == MemberStatus.ACTIVE


def test_the_export_download_is_formula_safe_and_complete(admin: TestClient, db_url: str) -> None:
    with session_scope(db_url) as session:
        upsert_member(session, "=cmd@example.com", "=HYPERLINK(1)", "@role", {})
    ann_left_funding(db_url)

    exported = admin.get("/staff/admin/members-export.csv")

    rows = {r["email"]: r for r in csv.DictReader(io.StringIO(exported.text, newline=""))}
    assert rows["'=cmd@example.com"]["name"] == "'=HYPERLINK(1)"
    assert rows["'=cmd@example.com"]["role"] == "'@role"
    assert rows["ann@example.com"]["status"] == "active"
    assert rows["ann@example.com"]["opted_out_topics"].startswith("funding one-click 20")
    assert rows["ann@example.com"]["consent"] == "membership terms"


# --- the API -------------------------------------------------------------------------------


def test_an_api_upsert_reports_each_kept_topic_and_the_history_names_who(
    admin: TestClient, db_url: str
) -> None:
    auth = bearer(new_token(admin, "crm"))
    ann_left_funding(db_url)

    answer = admin.put(
        "/api/v1/members",
        json={"email": "ann@example.com", "topics": {"funding": "daily", "itt": "weekly"}},
        headers=auth,
    )

    assert answer.status_code == 200
    body = answer.json()
    assert body["topics"] == {"itt": "weekly"}
    [kept] = body["kept_unsubscribed"]
    assert kept["field"] == "topics.funding" and KEPT.fullmatch(kept["message"])
    assert kept["opted_out"]["source"] == "one-click"
    assert body["opted_out"] == [kept["opted_out"]]
    history = admin.get("/api/v1/members/ann@example.com/history", headers=auth).json()
    assert [(e["topic"], e["new"], e["source"], e["actor"]) for e in history[-3:]] == [
        ("funding", "", "one-click", "member"),
        ("itt", "weekly", "api", "token:crm"),
        ("npq", "", "api", "token:crm"),
    ]
    missing = admin.get("/api/v1/members/nobody@example.com/history", headers=auth)
    assert missing.status_code == 404


def test_the_api_exports_the_members_csv(admin: TestClient, db_url: str) -> None:
    auth = bearer(new_token(admin))
    ann_left_funding(db_url)

    assert admin.get("/api/v1/members.csv").status_code == 401
    exported = admin.get("/api/v1/members.csv", headers=auth)

    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    header = exported.text.split("\r\n", 1)[0]
    assert header.startswith("email,name,role,topics,status,paused_until,opted_out")
    assert "ann@example.com,Ann,SENCO,npq:weekly,active" in exported.text

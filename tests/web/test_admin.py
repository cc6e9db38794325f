"""Admin pages: members and subscriptions, CSV import and export, suppression, staff accounts,
topic rules, and the audit log that records who changed what."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.db import session_scope
from newsletter.delivery.alerts import fan_out_article
from newsletter.models import AuditEvent, DeliveryStatus, StaffUser, Suppression, TopicRule
from tests.support.console import post
from tests.support.delivery_data import add_article, add_member
from tests.web.conftest import PASSWORD
from tests.web.helpers import csrf_of, delivery_status, topics_of

CSV = (
    "email,name,role,topics\n"
    "ann@example.com,Ann Archer,SENCO,funding:immediate;npq:weekly\n"
    "not-an-address,Bad,,funding:daily\n"
    "bob@example.com,Bob Baker,phase leader,astrology:weekly\n"
    "cat@example.com,Cat Cole,,careers:daily\n"
)


def actions_by(db_url: str, actor: str) -> list[str]:
    with session_scope(db_url) as session:
        return list(
            session.scalars(
                select(AuditEvent.action).where(AuditEvent.actor == actor).order_by(AuditEvent.id)
            )
        )


def test_member_search_and_edit_cancels_what_no_longer_applies(
    admin: TestClient, db_url: str
) -> None:
    with session_scope(db_url) as session:
        ann = add_member(session, "ann@example.com", {"funding": "immediate"})
        add_member(session, "bob@example.com", {"npq": "weekly"})
        queued = fan_out_article(session, add_article(session, "News", ["funding"]).id).send_id
        ann_id = ann.id

    found = admin.get("/staff/admin/members?q=ANN")
    assert "ann@example.com" in found.text and "bob@example.com" not in found.text

    page = f"/staff/admin/members/{ann_id}"
    saved = post(
        admin,
        page,
        page,
        {"name": "Ann A", "role": "SENCO", "status": "active", "topic-npq": "daily"},
    )
    assert "Saved." in saved.text
    assert topics_of(db_url, "ann@example.com") == {"npq": "daily"}
    assert delivery_status(db_url, queued, "ann@example.com") == DeliveryStatus.CANCELLED
    assert "member.update" in actions_by(db_url, "staff:admin@example.org")

    revoked = post(admin, page, page, {"action": "revoke-links"})
    assert "stopped working" in revoked.text
    assert admin.get("/staff/admin/members/99999").status_code == 404


def test_csv_import_reports_row_by_row_and_is_all_or_nothing(
    admin: TestClient, db_url: str
) -> None:
    page = "/staff/admin/members-import"
    token = csrf_of(admin.get(page).text)
    upload = {"file": ("members.csv", CSV.encode(), "text/csv")}

    refused = admin.post(page, data={"csrf_token": token}, files=upload)
    assert refused.status_code == 400
    assert "Nothing was written" in refused.text
    assert "invalid email address" in refused.text
    assert "unknown topic &#39;astrology&#39;" in refused.text
    assert admin.get("/staff/admin/members").text.count("@example.com") == 0

    partial = admin.post(page, data={"csrf_token": token, "partial": "yes"}, files=upload)
    assert partial.status_code == 200
    assert "Imported 2 rows" in partial.text and "2 new" in partial.text
    assert topics_of(db_url, "ann@example.com") == {"funding": "immediate", "npq": "weekly"}

    exported = admin.get("/staff/admin/members-export.csv")
    assert "ann@example.com,Ann Archer,SENCO,funding:immediate;npq:weekly" in exported.text
    assert "member.export" in actions_by(db_url, "staff:admin@example.org")


def test_suppression_is_added_and_removed_only_with_a_reason(
    admin: TestClient, db_url: str
) -> None:
    page = "/staff/admin/suppression"
    added = post(admin, page, page, {"email": "Spam@Example.com", "note": "asked by phone"})
    assert "spam@example.com" in added.text
    twice = post(admin, page, page, {"email": "spam@example.com"})
    assert twice.status_code == 400 and "already on the suppression list" in twice.text

    row_id = re.search(r"/staff/admin/suppression/(\d+)/remove", added.text)
    assert row_id
    remove = f"{page}/{row_id.group(1)}/remove"
    no_reason = post(admin, page, remove, {"reason": "  "})
    assert no_reason.status_code == 400 and "say why" in no_reason.text
    removed = post(admin, page, remove, {"reason": "confirmed by the member"})
    assert "Removed from the list" in removed.text

    with session_scope(db_url) as session:
        assert session.scalar(select(Suppression)) is None
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "suppression.remove"))
        assert event is not None and event.detail["reason"] == "confirmed by the member"


def test_staff_accounts_roles_and_the_last_admin(admin: TestClient, db_url: str) -> None:
    page = "/staff/admin/staff"
    dan = {"email": "dan@example.org", "role": "comms"}
    short = post(admin, page, page, dan | {"password": "short"})
    assert short.status_code == 400 and "at least 12 characters" in short.text
    assert 'value="dan@example.org"' in short.text

    created = post(admin, page, page, dan | {"password": PASSWORD})
    assert "dan@example.org" in created.text
    assert PASSWORD not in created.text

    with session_scope(db_url) as session:
        me = session.scalar(select(StaffUser.id).where(StaffUser.email == "admin@example.org"))
    demote = post(admin, page, f"{page}/{me}", {"role": "comms", "active": "yes"})
    assert demote.status_code == 400 and "last active admin" in demote.text
    assert "staff.create" in actions_by(db_url, "staff:admin@example.org")


def test_topic_rules_are_added_and_removed(admin: TestClient, db_url: str) -> None:
    page = "/staff/admin/topics"
    rule = {"phrase": "  School   Rebuilding  Fund ", "weight": "2"}
    added = post(admin, page, f"{page}/funding/rules", rule)
    assert added.status_code == 200 and "school rebuilding fund" in added.text
    bad = post(admin, page, f"{page}/funding/rules", {"phrase": "x", "weight": "99"})
    assert bad.status_code == 400 and "between 0.1 and 10" in bad.text

    with session_scope(db_url) as session:
        rule = session.scalar(select(TopicRule).where(TopicRule.phrase == "school rebuilding fund"))
        assert rule is not None and rule.weight == 2
        rule_id = rule.id
    post(admin, page, f"/staff/admin/rules/{rule_id}/delete", {})
    assert "school rebuilding fund" not in admin.get(page).text
    assert {"topic_rule.add", "topic_rule.remove"} <= set(
        actions_by(db_url, "staff:admin@example.org")
    )


def test_the_audit_log_shows_who_changed_what(admin: TestClient, db_url: str) -> None:
    post(admin, "/staff/admin/suppression", "/staff/admin/suppression", {"email": "x@example.com"})
    log = admin.get("/staff/admin/audit?q=suppression")
    assert "suppression.add" in log.text and "staff:admin@example.org" in log.text


def test_member_list_pages_keep_the_search(admin: TestClient, db_url: str) -> None:
    with session_scope(db_url) as session:
        for number in range(55):
            add_member(session, f"pager{number:02}@example.com", {"npq": "weekly"})

    first = admin.get("/staff/admin/members", params={"q": "pager"})
    assert "Page 1 of 2" in first.text
    assert 'href="?q=pager&amp;status=&amp;page=2">Next →' in first.text

    second = admin.get("/staff/admin/members", params={"q": "pager", "page": 2})
    assert "Page 2 of 2" in second.text
    assert 'href="?q=pager&amp;status=&amp;page=1">← Previous' in second.text
    assert "pager54@example.com" in second.text

"""The manage page's "when we email you" choices and the console's school-terms editor, with
their form errors beside the fields."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from newsletter import school_calendar
from newsletter.db import session_scope
from newsletter.links import manage_token
from tests.support.delivery_data import add_member
from tests.web.helpers import csrf_of, member


def manage_path(db_url: str, email: str) -> str:
    with session_scope(db_url) as session:
        found = add_member(session, email, {"funding": "daily"})
        return f"/manage/{manage_token(found.id, found.token_version)}"


def add_term(admin: TestClient, **fields: str) -> tuple[int, str]:
    csrf = csrf_of(admin.get("/staff/admin/terms").text)
    response = admin.post("/staff/admin/terms", data={**fields, "csrf_token": csrf})
    return response.status_code, response.text


def error_beside(html: str, field: str) -> str:
    found = re.search(rf'<span class="error-text" id="{field}-error">([^<]*)</span>', html)
    return found.group(1) if found else ""


def test_a_member_chooses_no_weekends_and_a_holiday_pause_for_their_region(
    client: TestClient, admin: TestClient, db_url: str
) -> None:
    assert (
        add_term(admin, region="Wales", name="Autumn", starts="2026-09-01", ends="2026-10-23")[0]
        == 200
    )
    path = manage_path(db_url, "ann@example.com")
    page = client.get(path).text
    assert "No email at weekends" in page and "Pause daily digests in school holidays" in page
    assert '<option value="wales" >Wales</option>' in page

    saved = client.post(
        path,
        data={
            "action": "when",
            "no_weekend_email": "yes",
            "pause_in_holidays": "yes",
            "school_region": "wales",
        },
        follow_redirects=True,
    )

    assert "we will email you on the days you chose" in saved.text
    ann = member(db_url, "ann@example.com")
    assert (ann.no_weekend_email, ann.pause_in_holidays, ann.school_region) == (True, True, "wales")
    assert 'name="no_weekend_email" value="yes" checked' in saved.text

    client.post(path, data={"action": "when", "school_region": "england"})
    ann = member(db_url, "ann@example.com")
    assert (ann.no_weekend_email, ann.pause_in_holidays, ann.school_region) == (
        False,
        False,
        "england",
    )


def test_an_unknown_region_is_refused_beside_the_field_and_nothing_changes(
    client: TestClient, db_url: str
) -> None:
    path = manage_path(db_url, "bob@example.com")
    refused = client.post(
        path, data={"action": "when", "pause_in_holidays": "yes", "school_region": "atlantis"}
    )
    assert refused.status_code == 400
    assert error_beside(refused.text, "school_region") == "Choose one of the regions listed."
    assert not member(db_url, "bob@example.com").pause_in_holidays


def test_admins_add_and_delete_terms_and_bad_ones_are_refused_beside_the_field(
    admin: TestClient, db_url: str
) -> None:
    code, page = add_term(
        admin, region="England", name="Autumn 1", starts="2026-09-03", ends="2026-10-23"
    )
    assert code == 200 and "Term added." in page and "Autumn 1" in page

    code, page = add_term(
        admin, region="England", name="Odd", starts="2026-11-02", ends="2026-10-30"
    )
    assert code == 400
    assert (
        error_beside(page, "ends") == "The last day (2026-10-30) is before the first (2026-11-02)."
    )
    code, page = add_term(
        admin, region="England", name="Extra", starts="2026-10-01", ends="2026-10-02"
    )
    assert code == 400
    assert error_beside(page, "starts") == (
        "It overlaps Autumn 1 kept already (2026-09-03 to 2026-10-23)."
    )
    code, page = add_term(admin, region="Kent; x", name="X", starts="junk", ends="2026-10-02")
    assert code == 400
    assert error_beside(page, "region").startswith("Enter a region")
    assert error_beside(page, "starts") == "Enter a date, like 2026-09-03."
    assert 'value="Kent; x"' in page  # what was typed is kept

    with session_scope(db_url) as session:
        (term,) = school_calendar.terms_of(session, "england")
        term_id = term.id
    csrf = csrf_of(admin.get("/staff/admin/terms").text)
    deleted = admin.post(f"/staff/admin/terms/{term_id}/delete", data={"csrf_token": csrf})
    assert "Term deleted." in deleted.text
    with session_scope(db_url) as session:
        assert school_calendar.terms_of(session, "england") == []


def test_comms_staff_cannot_edit_terms(comms: TestClient) -> None:
    assert comms.get("/staff/admin/terms").status_code == 403

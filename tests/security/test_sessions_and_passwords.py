"""Sessions and passwords (issue 16, finding 5): a session lives on the server, so signing out,
changing the password or an admin ends it wherever its cookie was copied; "change my password";
a password reset by an emailed link that works once, for an hour; guessable passwords refused."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from newsletter.db import session_scope
from newsletter.models import StaffRole, StaffUser, utcnow
from newsletter.staff import StaffError, check_password_rules, create_staff
from newsletter.web.app import create_app
from tests.web.conftest import PASSWORD, make_staff
from tests.web.helpers import csrf_of, sent_to, text_of

NEW_PASSWORD = "violet kettle orbit sandwich"


def browser() -> TestClient:
    return TestClient(create_app(), base_url="http://localhost:8000")


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> TestClient:
    token = csrf_of(client.get("/staff/login").text)
    response = client.post(
        "/staff/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def signed_in(client: TestClient) -> bool:
    response = client.get("/staff", follow_redirects=False)
    assert response.status_code in (200, 303)
    return response.status_code == 200


def copy_of(client: TestClient) -> TestClient:
    """Another browser holding a copy of this one's cookies (a stolen cookie)."""
    thief = browser()
    for name, value in client.cookies.items():
        thief.cookies.set(name, value)
    return thief


def post(client: TestClient, path: str, data: dict[str, str], page: str = "/staff") -> int:
    token = csrf_of(client.get(page).text)
    response = client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
    return response.status_code


def test_a_copied_cookie_stops_working_when_its_owner_signs_out(db_url: str) -> None:
    make_staff(db_url, "ada@school.org.uk", StaffRole.ADMIN)
    ada = sign_in(browser(), "ada@school.org.uk")
    thief = copy_of(ada)
    assert signed_in(thief)
    assert post(ada, "/staff/logout", {}) == 303
    assert not signed_in(ada)
    assert not signed_in(thief)


def test_changing_my_password_signs_out_every_other_browser(db_url: str) -> None:
    make_staff(db_url, "ada@school.org.uk", StaffRole.COMMS)
    ada, laptop = sign_in(browser(), "ada@school.org.uk"), sign_in(browser(), "ada@school.org.uk")
    thief = copy_of(laptop)

    change = {"current": PASSWORD, "password": NEW_PASSWORD, "repeat": NEW_PASSWORD}
    wrong = {**change, "current": "not my password"}
    assert post(ada, "/staff/account/password", wrong, "/staff/account") == 400
    assert signed_in(laptop)
    assert post(ada, "/staff/account/password", change, "/staff/account") == 303

    assert signed_in(ada)  # this browser goes on, with a fresh session
    assert not signed_in(laptop) and not signed_in(thief)
    sign_in(browser(), "ada@school.org.uk", NEW_PASSWORD)


def test_an_admin_signs_an_account_out_everywhere(admin: TestClient, db_url: str) -> None:
    make_staff(db_url, "cy@school.org.uk", StaffRole.COMMS)
    cy = sign_in(browser(), "cy@school.org.uk")
    with session_scope(db_url) as session:
        cy_id = session.query(StaffUser.id).filter_by(email="cy@school.org.uk").scalar()
    page = admin.get("/staff/admin/staff")
    assert "1 signed-in browser" in page.text
    assert post(admin, f"/staff/admin/staff/{cy_id}/sessions", {}, "/staff/admin/staff") == 303
    assert not signed_in(cy)
    assert signed_in(admin)
    assert "staff.sessions_ended" in admin.get("/staff/admin/audit").text


def ask_for_a_reset(client: TestClient, email: str) -> int:
    token = csrf_of(client.get("/staff/password-reset").text)
    response = client.post(
        "/staff/password-reset", data={"email": email, "csrf_token": token}, follow_redirects=True
    )
    assert "If that address has a staff account" in response.text
    return response.status_code


def reset_link(email: str) -> str:
    (message,) = sent_to(email)
    found = re.search(r"https?://\S+/staff/password-reset/\S+", text_of(message))
    assert found, text_of(message)
    return urlsplit(found.group(0)).path


def test_a_reset_link_sets_a_new_password_once(staff_browser: TestClient, db_url: str) -> None:
    make_staff(db_url, "ada@school.org.uk", StaffRole.ADMIN)
    old_session = sign_in(browser(), "ada@school.org.uk")
    assert ask_for_a_reset(staff_browser, "Ada@School.org.uk") == 200
    link = reset_link("ada@school.org.uk")

    form = staff_browser.get(link)
    assert form.status_code == 200 and "Choose a new password" in form.text
    weak = {"password": "password1234", "repeat": "password1234", "csrf_token": csrf_of(form.text)}
    refused = staff_browser.post(link, data=weak)
    assert refused.status_code == 400 and "too easy to guess" in refused.text
    good = {**weak, "password": NEW_PASSWORD, "repeat": NEW_PASSWORD}
    done = staff_browser.post(link, data=good, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/staff/login?notice=reset"

    assert not signed_in(old_session)
    sign_in(browser(), "ada@school.org.uk", NEW_PASSWORD)
    again = staff_browser.post(link, data={**good, "password": "x" * 30, "repeat": "x" * 30})
    assert again.status_code == 400 and "used already" in again.text
    assert "used already" in staff_browser.get(link).text


def test_asking_for_a_stranger_looks_the_same_and_sends_nothing(
    staff_browser: TestClient, db_url: str
) -> None:
    assert ask_for_a_reset(staff_browser, "nobody@school.org.uk") == 200
    assert sent_to("nobody@school.org.uk") == []


def test_a_reset_link_expires_after_an_hour(staff_browser: TestClient, db_url: str) -> None:
    from newsletter import password_reset

    make_staff(db_url, "ada@school.org.uk", StaffRole.ADMIN)
    assert password_reset.send_link("ada@school.org.uk", now=utcnow() - timedelta(minutes=61))
    page = staff_browser.get(reset_link("ada@school.org.uk"))
    assert page.status_code == 400 and "expired" in page.text


@pytest.mark.parametrize(
    "password",
    [
        "short one",
        " " * 20,
        "password1234",
        "qwertyuiopasdfgh",
        "aaaaaaaaaaaaaaa",
        "lovelace12345",
    ],
)
def test_guessable_passwords_are_refused(password: str) -> None:
    with pytest.raises(StaffError):
        check_password_rules(password, "ada.lovelace@school.org.uk")


def test_a_strong_password_is_taken(db_url: str) -> None:
    check_password_rules(NEW_PASSWORD, "ada@school.org.uk")
    with session_scope(db_url) as session, pytest.raises(StaffError, match="too easy to guess"):
        create_staff(session, "bob@school.org.uk", "letmein12345", StaffRole.COMMS)

"""Account lockout as a weapon (issue 16, finding 4): failed sign-ins slow down the pair
(account, client) that keeps failing, with growing delays, and each client has a cap over all
accounts; someone elsewhere can neither lock a colleague out nor try every account. Every
failed sign-in is in the audit log, for admins to see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from newsletter.db import session_scope
from newsletter.models import StaffRole
from newsletter.web.app import create_app
from tests.web.conftest import PASSWORD, make_staff
from tests.web.helpers import csrf_of

ATTACKER = "203.0.113.66"
PER_CLIENT_CAP = 20  # failed sign-ins from one client over all accounts, in 15 minutes
COLLEAGUE = "198.51.100.7"


class Browser(TestClient):
    """A browser at this client address, that opens the sign-in page once."""

    def __init__(self, app: FastAPI, address: str) -> None:
        super().__init__(app, base_url="http://localhost:8000", client=(address, 50000))
        self.csrf = ""


def browser(app: FastAPI, address: str) -> Browser:
    return Browser(app, address)


def sign_in(client: Browser, email: str, password: str) -> int:
    client.csrf = client.csrf or csrf_of(client.get("/staff/login").text)
    response = client.post(
        "/staff/login",
        data={"email": email, "password": password, "csrf_token": client.csrf},
        follow_redirects=False,
    )
    return response.status_code


def test_wrong_passwords_elsewhere_do_not_lock_the_owner_out(db_url: str) -> None:
    make_staff(db_url, "ada@school.org.uk", StaffRole.ADMIN)
    app = create_app()
    attacker = browser(app, ATTACKER)
    answers = [sign_in(attacker, "ada@school.org.uk", f"guess number {i}") for i in range(8)]
    assert answers == [400] * 5 + [429] * 3
    # The attacker is slowed down even with the right password ...
    assert sign_in(attacker, "ada@school.org.uk", PASSWORD) == 429
    # ... but Ada, at her own desk, signs in at once.
    ada = browser(app, COLLEAGUE)
    assert sign_in(ada, "ada@school.org.uk", PASSWORD) == 303
    assert ada.get("/staff", follow_redirects=False).status_code == 200


def test_the_delays_grow_for_the_pair_that_keeps_failing(session: Session) -> None:
    from newsletter import login_throttle as lt

    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    now = start
    for _ in range(5):
        lt.record_failure(session, "ada@school.org.uk", ATTACKER, now)
    waits = []
    for _ in range(6):
        wait = lt.wait_before_next(session, "ada@school.org.uk", ATTACKER, now)
        waits.append(wait)
        now += wait  # waits it out, and fails again
        assert lt.wait_before_next(session, "ada@school.org.uk", ATTACKER, now) == timedelta(0)
        lt.record_failure(session, "ada@school.org.uk", ATTACKER, now)
    assert [w.total_seconds() for w in waits] == [30, 60, 120, 240, 480, 900]
    assert lt.wait_before_next(session, "ada@school.org.uk", ATTACKER, now) == timedelta(minutes=15)
    # Nobody else is slowed down: not the owner elsewhere, not another account from here.
    assert lt.wait_before_next(session, "ada@school.org.uk", COLLEAGUE, now) == timedelta(0)
    assert lt.wait_before_next(session, "bob@school.org.uk", ATTACKER, now) == timedelta(0)


def test_one_client_cannot_try_every_account(db_url: str) -> None:
    from newsletter import login_throttle

    make_staff(db_url, "ada@school.org.uk", StaffRole.ADMIN)
    with session_scope(db_url) as session:
        for i in range(PER_CLIENT_CAP):  # one wrong guess for each of many accounts
            login_throttle.record_failure(session, f"person{i}@school.org.uk", "2001:db8:66::1")
    app = create_app()
    assert sign_in(browser(app, "2001:db8:66::1"), "someone@school.org.uk", "a guess") == 429
    # The cap is per client: an IPv6 client by its /64; a client elsewhere is not touched.
    assert sign_in(browser(app, "2001:db8:66::2"), "ada@school.org.uk", PASSWORD) == 429
    assert sign_in(browser(app, COLLEAGUE), "ada@school.org.uk", PASSWORD) == 303


def test_failed_sign_ins_are_shown_in_the_audit_log(admin: TestClient, db_url: str) -> None:
    app = create_app()
    assert sign_in(browser(app, ATTACKER), "admin@example.org", "not the password") == 400
    typed = "my secret password typed into the address field"
    assert sign_in(browser(app, ATTACKER), typed, "whatever") == 400

    page = admin.get("/staff/admin/audit?q=login_failed")
    assert page.status_code == 200
    assert page.text.count("staff.login_failed") == 2
    assert ATTACKER in page.text and "admin@example.org" in page.text
    assert typed not in page.text and "(no such account)" in page.text

"""Steps the browser tests share: a page the size of a desktop, screenshots at both widths,
choosing how often in the preference centre, signing in to the console as staff made with
PASSWORD; and `site`, the console with two staff (comms and admin) and three members."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from newsletter.db import session_scope
from newsletter.models import StaffRole
from newsletter.staff import create_staff
from tests.support.delivery_data import add_member
from tests.web.site import DESKTOP, PHONE, Site, fits_the_screen, running_site
from tests.web.site import screenshot as save

PASSWORD = "correct horse battery staple"


def shot(page: Page, name: str) -> None:
    """Screenshots of this page at desktop and phone widths; neither scrolls sideways."""
    for width in (DESKTOP, PHONE):
        page.set_viewport_size({"width": width, "height": 900})
        assert fits_the_screen(page), f"{name} scrolls sideways at {width}px"
        save(page, name)
    page.set_viewport_size({"width": DESKTOP, "height": 900})


def choose(page: Page, topic: str, how_often: str) -> None:
    page.get_by_role("radiogroup", name=f"How often for {topic}").get_by_text(how_often).click()


def new_page(browser: Browser) -> Page:
    return browser.new_page(
        viewport={"width": DESKTOP, "height": 900}, locale="en-GB", timezone_id="Europe/London"
    )


def sign_in(page: Page, site: Site, email: str) -> None:
    page.goto(f"{site.url}/staff")
    expect(page.get_by_role("heading", name="Staff sign in")).to_be_visible()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


@pytest.fixture
def site(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    with running_site(tmp_path, sqlite_template, monkeypatch) as running:
        with session_scope() as session:
            create_staff(session, "cleo@example.org", PASSWORD, StaffRole.COMMS, actor="test")
            create_staff(session, "ada@example.org", PASSWORD, StaffRole.ADMIN, actor="test")
            add_member(session, "ann@example.com", {"npq": "weekly"}, role="SENCO")
            add_member(session, "bob@example.com", {"npq": "immediate", "funding": "daily"})
            add_member(session, "cat@example.com", {"careers": "weekly"})
        yield running

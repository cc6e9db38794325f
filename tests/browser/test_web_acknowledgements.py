"""Urgent notices in headless Chromium against the real app: the member's "I've read this"
page and the send page's acknowledgement view, with screenshots at desktop and phone widths."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from newsletter.db import session_scope
from newsletter.models import utcnow
from tests.support.browser_steps import PASSWORD, new_page, shot, sign_in
from tests.support.delivery_data import add_member
from tests.support.notices import ack_path, schedule_notice, send_notice_inline
from tests.web.site import Site, running_site

pytestmark = pytest.mark.browser


@pytest.fixture
def site(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    from newsletter.models import StaffRole
    from newsletter.staff import create_staff

    with running_site(tmp_path, sqlite_template, monkeypatch) as running:
        with session_scope() as session:
            create_staff(session, "cleo@example.org", PASSWORD, StaffRole.COMMS, actor="test")
            for name, role in [("ann", "SENCO"), ("bob", "SENCO"), ("cat", "Phase leader")]:
                add_member(session, f"{name}@example.com", {"funding": "weekly"}, role=role)
        yield running


def send_notice() -> int:
    """An urgent notice, sent now over the site's SMTP server."""
    at = utcnow() + timedelta(seconds=1)
    notice = schedule_notice("SEND register return due Friday", at=at)
    send_notice_inline(at)
    return notice


def test_a_member_acknowledges_and_staff_see_who_has_not(browser: Browser, site: Site) -> None:
    notice = send_notice()
    emails = {m.rcpt_tos[0]: m.parsed() for m in site.smtp.wait_for(3)}
    page = new_page(browser)

    page.goto(site.url + ack_path(emails["ann@example.com"]))
    expect(page.get_by_role("heading", name="SEND register return due Friday")).to_be_visible()
    shot(page, "acknowledge")
    page.get_by_role("button", name="I've read this").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    shot(page, "acknowledged")

    sign_in(page, site, "cleo@example.org")
    page.goto(f"{site.url}/staff/sends/{notice}")
    card = page.locator("#acknowledgements")
    expect(card.locator('[data-field="acknowledged"]')).to_have_text("1")
    expect(card.locator('[data-field="waiting"]')).to_have_text("2")
    shot(page, "send-acknowledgements")
    page.get_by_role("link", name="Who has not acknowledged").click()
    expect(page.get_by_role("cell", name="Not yet")).to_have_count(2)
    shot(page, "acknowledgement-list")
    page.close()

"""Issue 20's send windows and school holidays in headless Chromium against the real app: the
console's school-terms editor and the manage page's "when we email you" choices, with
screenshots at desktop and phone widths."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import Browser, expect

from newsletter import school_calendar
from newsletter.db import session_scope
from newsletter.links import manage_url
from newsletter.models import Member
from newsletter.term_dates import Term
from tests.support import browser_steps
from tests.support.browser_steps import new_page, shot, sign_in
from tests.support.delivery_data import add_member
from tests.web.site import Site

pytestmark = pytest.mark.browser

site = browser_steps.site  # the fixture: the console with its staff and members
ENGLAND = [
    Term("Autumn 1", date(2026, 9, 3), date(2026, 10, 23)),
    Term("Autumn 2", date(2026, 11, 2), date(2026, 12, 18)),
    Term("Spring 1", date(2027, 1, 5), date(2027, 2, 12)),
]


def test_admins_edit_school_terms_with_errors_beside_the_field(
    browser: Browser,
    site: Site,
) -> None:
    with session_scope() as session:
        school_calendar.import_terms(session, "england", ENGLAND, "test")
    page = new_page(browser)
    sign_in(page, site, "ada@example.org")
    page.goto(f"{site.url}/staff/admin/terms")
    expect(page.get_by_role("heading", name="England")).to_be_visible()
    shot(page, "admin-school-terms")

    page.get_by_label("Region").fill("Wales")
    page.get_by_label("Name").fill("Autumn")
    page.get_by_label("First day").fill("2026-10-30")
    page.get_by_label("Last day").fill("2026-09-01")
    page.get_by_role("button", name="Add term").click()
    expect(
        page.get_by_text("The last day (2026-09-01) is before the first (2026-10-30).").first
    ).to_be_visible()
    shot(page, "admin-school-terms-error")

    page.get_by_label("Last day").fill("2026-12-18")
    page.get_by_role("button", name="Add term").click()
    expect(page.get_by_text("Term added.")).to_be_visible()
    expect(page.get_by_role("heading", name="Wales")).to_be_visible()
    page.get_by_role("button", name="Delete Autumn (Wales, from 2026-10-30)").click()
    expect(page.get_by_text("Term deleted.")).to_be_visible()
    page.close()


def test_a_member_chooses_no_weekends_and_a_holiday_pause_on_the_manage_page(
    browser: Browser,
    site: Site,
) -> None:
    with session_scope() as session:
        school_calendar.import_terms(session, "wales", ENGLAND[:1], "test")
        dan = add_member(session, "dan@example.com", {"funding": "daily"})
        url = manage_url(dan.id, dan.token_version)
    page = new_page(browser)
    page.goto(url)
    expect(page.get_by_role("heading", name="When we email you")).to_be_visible()

    page.get_by_label("No email at weekends").check()
    page.get_by_label("Pause daily digests in school holidays").check()
    page.get_by_label("Whose school holidays").select_option("wales")
    page.get_by_role("button", name="Save when to email me").click()

    expect(page.get_by_text("we will email you on the days you chose")).to_be_visible()
    expect(page.get_by_label("Pause daily digests in school holidays")).to_be_checked()
    page.locator("#when").scroll_into_view_if_needed()
    shot(page, "manage-when-to-email")
    with session_scope() as session:
        saved = session.get(Member, dan.id)
        assert saved is not None
        assert (saved.no_weekend_email, saved.pause_in_holidays, saved.school_region) == (
            True,
            True,
            "wales",
        )
    page.close()

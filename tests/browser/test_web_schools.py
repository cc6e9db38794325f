"""The member-facing pages issue 20 adds or changes, in headless Chromium against the real app:
the subscribe form ticking a role's defaults, the manage page's calendar link (revocable), and
the archive of past emails; screenshots at desktop and phone widths."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import icalendar
import pytest
from playwright.sync_api import Browser, expect

from newsletter import role_defaults
from newsletter.audience import announcement_audience
from newsletter.db import session_scope
from newsletter.links import manage_url
from newsletter.models import Frequency, Send, SendKind, SendStatus
from tests.support.browser_steps import choose, shot
from tests.support.delivery_data import add_article, add_member
from tests.web.site import DESKTOP, Site, running_site

pytestmark = pytest.mark.browser


@pytest.fixture
def site(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    with running_site(tmp_path, sqlite_template, monkeypatch) as running:
        yield running


def test_choosing_a_role_ticks_its_default_topics(browser: Browser, site: Site) -> None:
    with session_scope() as session:
        senco = role_defaults.find_role(session, "SENCO")
        assert senco is not None
        defaults = {"assessment": Frequency.WEEKLY, "funding": Frequency.IMMEDIATE}
        role_defaults.set_defaults(session, senco, defaults, "test")
    page = browser.new_page(viewport={"width": DESKTOP, "height": 900})
    page.goto(f"{site.url}/subscribe")
    choose(page, "NPQ", "Daily")

    page.get_by_label("Your role (optional)").fill("SENCO")

    funding = page.get_by_role("radiogroup", name="How often for Funding")
    assessment = page.get_by_role("radiogroup", name="How often for Assessment")
    npq = page.get_by_role("radiogroup", name="How often for NPQ")
    expect(funding.get_by_label("Straight away")).to_be_checked()
    expect(assessment.get_by_label("Weekly")).to_be_checked()
    expect(npq.get_by_label("Off")).to_be_checked()
    shot(page, "subscribe-role-defaults")
    page.close()


def test_manage_page_offers_a_calendar_link_that_can_be_replaced(
    browser: Browser, site: Site
) -> None:
    soon = datetime.now(UTC).date() + timedelta(days=10)
    with session_scope() as session:
        ann = add_member(session, "ann@example.com", {"funding": "weekly"})
        add_article(session, "Capital bids", ["funding"], closes=soon)
        url = manage_url(ann.id, ann.token_version)  # on the site: BASE_URL is the site's
    page = browser.new_page(viewport={"width": DESKTOP, "height": 900})
    page.goto(url)
    expect(page.get_by_role("heading", name="Deadlines in your calendar")).to_be_visible()
    old = page.get_by_label("Your calendar link").input_value()
    shot(page, "manage-calendar")

    page.get_by_role("button", name="Make a new calendar link").click()

    expect(page.get_by_text("Your calendar link is new")).to_be_visible()
    new = page.get_by_label("Your calendar link").input_value()
    feed = httpx.get(new)
    [event] = icalendar.Calendar.from_ical(feed.content).walk("VEVENT")
    assert event.decoded("dtstart") == soon
    assert new.startswith(f"{site.url}/calendar/") and new != old
    assert httpx.get(old).status_code == 400
    page.close()


def test_past_emails_page_reads_well(browser: Browser, site: Site) -> None:
    with session_scope() as session:
        at = datetime(2026, 11, 23, 9, tzinfo=UTC)
        for days, subject in enumerate(("Regional SENCO network", "Spring conference dates")):
            session.add(
                Send(
                    kind=SendKind.ANNOUNCEMENT,
                    status=SendStatus.SENT,
                    started_at=at + timedelta(days=days),
                    subject=subject,
                    body_markdown=f"{subject}: all the details.",
                    audience=announcement_audience([]).to_json(),
                )
            )
    page = browser.new_page(viewport={"width": DESKTOP, "height": 900})
    page.goto(f"{site.url}/archive")
    expect(page.get_by_role("link", name="Spring conference dates")).to_be_visible()
    shot(page, "past-emails")
    page.get_by_label("Words").fill("network")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name="Spring conference dates")).to_have_count(0)
    page.get_by_role("link", name="Regional SENCO network").click()
    expect(page.get_by_text("Regional SENCO network: all the details.")).to_be_visible()
    shot(page, "past-email")
    page.close()

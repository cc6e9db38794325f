"""Comms staff in headless Chromium against the real app, a Celery worker and beat, and a real
SMTP server: sign in, compose an announcement, preview it, schedule it a few seconds ahead,
and watch it complete on the dashboard. Then the admin pages, and a comms user kept out."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect

from tests.support import browser_steps
from tests.support.browser_steps import new_page, shot, sign_in
from tests.support.worker import celery_beat, celery_worker
from tests.web.site import Site

pytestmark = pytest.mark.browser

site = browser_steps.site  # the fixture: the console with its staff and members

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "articles" / "npq-spring-applications.md"


def test_compose_preview_schedule_and_watch_it_complete(
    browser: Browser, site: Site, tmp_path: Path
) -> None:
    page = new_page(browser)
    page.goto(f"{site.url}/staff/login")
    shot(page, "staff-login")
    sign_in(page, site, "cleo@example.org")

    page.get_by_role("link", name="New announcement").first.click()
    page.get_by_label("Subject").fill("Spring conference: booking open")
    page.get_by_label("Message").fill(
        "Book your place at the **spring conference** by Friday.\n\n- NPQ sessions\n- Networking"
    )
    page.get_by_label("NPQ").check()
    # Comms staff preview as the sample member (a real member's name is for admins only).
    page.get_by_role("button", name="Show preview").click()
    preview = page.frame_locator("iframe[name=preview]")
    expect(preview.locator("strong", has_text="spring conference")).to_be_visible()
    expect(preview.get_by_text("Hello Sam Sample,")).to_be_visible()

    london = datetime.now(ZoneInfo("Europe/London")) + timedelta(seconds=12)
    page.get_by_label("Date").fill(london.date().isoformat())
    page.get_by_label("Time").fill(london.strftime("%H:%M:%S"))
    shot(page, "staff-compose")
    page.get_by_role("button", name="Schedule").click()
    expect(page.get_by_text("Scheduled. It starts by itself")).to_be_visible()
    expect(page.get_by_text("Would reach now")).to_be_visible()
    shot(page, "staff-send-scheduled")

    with (
        celery_worker(site.env, tmp_path / "worker.log", concurrency=1),
        celery_beat(site.env, tmp_path / "beat.log"),
    ):
        page.get_by_role("link", name="Dashboard").click()
        row = page.locator("tr[data-send-id]").filter(has_text="Spring conference")
        # live.js refreshes the counts while the send runs; no reload needed.
        expect(row.locator(".status")).to_have_text("sent", timeout=90_000)
        expect(row.locator('[data-field="sent"]')).to_have_text("2")
    page.reload()  # the chart is drawn on the server: now it has today's two emails
    expect(page.get_by_text("NPQ (2)")).to_be_visible()
    shot(page, "staff-dashboard")
    # Only the announcement's copies: after 07:00 (London) beat's watch also emails the staff
    # that today's digests did not run (this site runs none).
    announced = [
        rcpt
        for message in site.smtp.messages
        if message.parsed()["Subject"] == "Spring conference: booking open"
        for rcpt in message.rcpt_tos
    ]
    assert sorted(announced) == ["ann@example.com", "bob@example.com"]
    page.close()


def test_console_pages_and_comms_kept_out_of_admin(browser: Browser, site: Site) -> None:
    page = new_page(browser)
    sign_in(page, site, "ada@example.org")
    for path, name in (
        ("/staff/admin/members", "admin-members"),
        ("/staff/admin/members-import", "admin-import"),
        ("/staff/admin/suppression", "admin-suppression"),
        ("/staff/admin/topics", "admin-topics"),
        ("/staff/admin/audit", "admin-audit"),
    ):
        page.goto(f"{site.url}{path}")
        shot(page, name)
    page.get_by_role("link", name="Members").first.click()
    page.get_by_role("link", name="ann@example.com").click()
    expect(page.get_by_role("heading", name="ann@example.com")).to_be_visible()
    shot(page, "admin-member")
    page.close()

    comms = new_page(browser)
    sign_in(comms, site, "cleo@example.org")
    expect(comms.get_by_role("link", name="Admin")).to_have_count(0)
    comms.get_by_role("link", name="Add an article").click()
    comms.get_by_label("Or paste the article").fill(SAMPLE.read_text())
    comms.get_by_role("button", name="Import").click()
    expect(comms.get_by_text("Imported. Check the topics and priority")).to_be_visible()
    expect(comms.get_by_text("points)").first).to_be_visible()  # the evidence for a topic
    shot(comms, "staff-article")
    comms.get_by_role("button", name="Publish").click()
    expect(comms.get_by_text("Published.")).to_be_visible()
    comms.get_by_role("link", name="Articles").first.click()
    shot(comms, "staff-articles")
    answer = comms.goto(f"{site.url}/staff/admin/members")
    assert answer is not None and answer.status == 403
    expect(comms.get_by_text("This page is for admins only.")).to_be_visible()
    comms.close()

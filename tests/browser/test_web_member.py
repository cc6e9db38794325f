"""A member's journey in headless Chromium against the real app, a real worker and a real SMTP
server: subscribe, confirm from the email (opening the link only shows a button), manage
topics, leave with the one-click unsubscribe in a delivered email's List-Unsubscribe header (the
next send in that topic skips them), then move to a new address confirmed from that address."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from newsletter.db import session_scope
from newsletter.delivery import jobs
from newsletter.inline import inline
from newsletter.models import Member, MemberStatus
from tests.support.browser_steps import choose, shot
from tests.support.delivery_data import add_article
from tests.support.worker import celery_worker
from tests.web.site import DESKTOP, Site, link_in, running_site

pytestmark = pytest.mark.browser

ANN = "ann.archer@example.com"
NEW = "ann.archer@school.example.org"


@pytest.fixture
def site(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    with running_site(tmp_path, sqlite_template, monkeypatch) as running:
        yield running


@pytest.fixture
def worker(site: Site) -> Iterator[None]:
    """A real worker on the embedded broker: it sends the emails the pages queue."""
    with celery_worker(site.env, site.logs / "worker.log"):
        yield


def emails_to(site: Site, address: str) -> list:  # type: ignore[type-arg]
    return [m.parsed() for m in site.smtp.messages if address in m.rcpt_tos]


def deliver_alert(title: str, topics: list[str]) -> None:
    """An article published and its alert delivered, as the worker would, over real SMTP."""
    with session_scope() as session:
        article_id = add_article(session, title, topics).id
    with inline():
        jobs.alert(article_id)


def test_subscribe_confirm_manage_unsubscribe_and_move(
    browser: Browser, site: Site, worker: None
) -> None:
    page = browser.new_page(viewport={"width": DESKTOP, "height": 900})

    # Subscribe: a mistake first, shown beside the field with what was typed.
    page.goto(f"{site.url}/subscribe")
    page.get_by_label("Email address").fill("ann.archer@")
    page.get_by_label("Your name (optional)").fill("Ann Archer")
    choose(page, "Funding", "Straight away")
    choose(page, "NPQ", "Weekly")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_label("Email address")).to_have_accessible_description(
        re.compile("Enter a valid email address")
    )
    expect(page.get_by_label("Your name (optional)")).to_have_value("Ann Archer")
    shot(page, "subscribe-error")

    page.goto(f"{site.url}/subscribe")
    page.get_by_label("Email address").fill(ANN)
    page.get_by_label("Your name (optional)").fill("Ann Archer")
    page.get_by_label("Your role (optional)").fill("SENCO")
    choose(page, "Funding", "Straight away")
    choose(page, "NPQ", "Weekly")
    shot(page, "subscribe")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    shot(page, "check-your-email")

    # Confirm from the email the worker sent: opening the link only shows a button.
    site.smtp.wait_for(1, timeout=60)
    [confirm_email] = emails_to(site, ANN)
    assert "Ann Archer" not in confirm_email.as_string()  # typed into a public form: not sent
    page.goto(link_in(confirm_email, "confirm"))
    expect(page.get_by_role("heading", name="Confirm your subscription")).to_be_visible()
    shot(page, "confirm")
    assert status_of(ANN) == MemberStatus.PENDING
    page.get_by_role("button", name="Confirm my subscription").click()
    expect(page.get_by_role("heading", name="You are subscribed")).to_be_visible()
    shot(page, "confirmed")
    assert status_of(ANN) == MemberStatus.ACTIVE
    site.smtp.wait_for(2, timeout=60)
    assert "Welcome" in emails_to(site, ANN)[-1]["Subject"]

    # Manage: add Careers daily.
    page.get_by_role("link", name="Change your choices").click()
    expect(page.get_by_role("heading", name="Your email choices")).to_be_visible()
    choose(page, "Careers", "Daily")
    page.get_by_role("button", name="Save my choices").click()
    expect(page.get_by_text("Your choices are saved.")).to_be_visible()
    shot(page, "manage")
    assert subscriptions(ANN) == {"careers": "daily", "funding": "immediate", "npq": "weekly"}

    # A funding alert arrives; its List-Unsubscribe header carries the one-click URL.
    deliver_alert("Capital funding for SEND places", ["funding"])
    alert = emails_to(site, ANN)[-1]
    assert alert["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    found = re.search(r"<(https?://[^>]+/unsubscribe/[^>]+)>", alert["List-Unsubscribe"])
    assert found
    unsubscribe_url = found.group(1)

    # A link scanner (or the member) opening it only sees a button.
    page.goto(unsubscribe_url)
    expect(page.get_by_role("button", name="Unsubscribe")).to_be_visible()
    expect(page.get_by_text("Funding")).to_be_visible()
    shot(page, "unsubscribe")
    assert subscriptions(ANN)["funding"] == "immediate"

    # The mail provider's one-click POST: no cookie, no token, no redirect.
    answer = httpx.post(
        unsubscribe_url,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert answer.status_code == 200
    assert subscriptions(ANN) == {"careers": "daily", "npq": "weekly"}

    page.reload()
    shot(page, "unsubscribe-after")
    before = len(emails_to(site, ANN))
    deliver_alert("More funding news", ["funding"])
    assert len(emails_to(site, ANN)) == before  # the next funding send does not reach her
    assert status_of(ANN) == MemberStatus.ACTIVE  # still subscribed to Careers and NPQ

    # She moves to a new address: the link goes there, and the change is made from it.
    page.goto(link_in(emails_to(site, ANN)[1], "manage"))  # the welcome email's link
    page.get_by_label("New email address").fill(NEW)
    sent = len(site.smtp.messages)
    page.get_by_role("button", name="Change my address").click()
    expect(page.get_by_text("We have sent a link to your new address")).to_be_visible()
    shot(page, "manage-address-asked")
    site.smtp.wait_for(sent + 1, timeout=60)
    [confirm_address] = emails_to(site, NEW)
    page.goto(link_in(confirm_address, "confirm/address"))
    expect(page.get_by_role("heading", name="Confirm your new address")).to_be_visible()
    assert status_of(NEW) is None
    sent = len(site.smtp.messages)
    page.get_by_role("button", name="Confirm my new address").click()
    expect(page.get_by_role("heading", name="Your address is changed")).to_be_visible()
    shot(page, "address-changed")
    assert status_of(NEW) == MemberStatus.ACTIVE and status_of(ANN) is None
    site.smtp.wait_for(sent + 1, timeout=60)
    assert "has changed" in emails_to(site, ANN)[-1]["Subject"]
    page.close()


def test_archive_pages_read_well(browser: Browser, site: Site) -> None:
    with session_scope() as session:
        article = add_article(session, "NPQ spring cohort: applications open", ["npq"])
        article.body_html = (
            "<p>Applications are open for the spring cohort of the National Professional "
            "Qualifications.</p><h2>Who each NPQ is for</h2><ul><li>NPQSL: senior leaders</li>"
            "<li>NPQH: aspiring headteachers</li></ul>"
        )
        article_id = article.id
    page = browser.new_page(viewport={"width": DESKTOP, "height": 900})
    page.goto(site.url)
    expect(page.get_by_role("heading", name="Latest articles")).to_be_visible()
    shot(page, "home")
    page.get_by_role("link", name="NPQ spring cohort: applications open").first.click()
    expect(page).to_have_url(f"{site.url}/articles/{article_id}")
    shot(page, "article")
    page.goto(f"{site.url}/topics/npq")
    shot(page, "topic")
    page.goto(f"{site.url}/manage/not-a-real-token")
    expect(page.get_by_role("heading", name="This link is not valid")).to_be_visible()
    shot(page, "bad-link")
    page.close()


def status_of(email: str) -> MemberStatus | None:
    with session_scope() as session:
        return session.scalar(select(Member.status).where(Member.email == email))


def subscriptions(email: str) -> dict[str, str]:
    from newsletter.preferences import subscription_map

    with session_scope() as session:
        member = session.scalar(select(Member).where(Member.email == email))
        assert member is not None
        return {slug: f.value for slug, f in sorted(subscription_map(session, member).items())}

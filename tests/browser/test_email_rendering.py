"""An alert and a digest in headless Chromium: readable at phone and desktop widths.

Uses Debian's chromium (installed by `make test` when missing); Playwright never downloads a
browser here. The screenshots are kept in var/screenshots/ for people to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from newsletter.rendering import Recipient
from newsletter.rendering.previews import decoded_part, prepare_preview

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
ANN = Recipient(member_id=12, email="ann.archer@example.com", name="Ann Archer", token_version=3)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _refuse(route: Route) -> None:
    route.abort()


def open_email(browser: Browser, kind: str, width: int) -> Page:
    html = decoded_part(prepare_preview(kind).personalise(ANN), "html")
    page = browser.new_page(viewport={"width": width, "height": 900})
    # An email must stand on its own: nothing is fetched from anywhere.
    page.route("**/*", _refuse)
    page.set_content(html, wait_until="load")
    return page


@pytest.mark.parametrize("kind", ["alert", "digest"])
def test_no_horizontal_scrolling_on_a_phone(browser: Browser, kind: str) -> None:
    page = open_email(browser, kind, 375)
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{kind}-375.png"), full_page=True)
    page.close()
    assert widths[0] <= widths[1] == 375


@pytest.mark.parametrize("kind", ["alert", "digest"])
def test_readable_on_a_desktop(browser: Browser, kind: str) -> None:
    page = open_email(browser, kind, 800)
    # The content column stays at a readable width, centred, rather than stretching.
    box = page.locator("table.container").bounding_box()
    font_size = page.evaluate("() => getComputedStyle(document.querySelector('p')).fontSize")
    page.screenshot(path=str(SCREENSHOTS / f"{kind}-800.png"), full_page=True)
    page.close()
    assert box is not None and box["width"] == 600
    assert abs(box["x"] - (800 - 600) / 2) <= 1
    assert font_size == "16px"


@pytest.mark.parametrize("kind", ["alert", "digest"])
@pytest.mark.parametrize("width", [375, 800])
def test_every_link_has_a_destination_and_the_preheader_is_hidden(
    browser: Browser, kind: str, width: int
) -> None:
    page = open_email(browser, kind, width)
    links = page.evaluate(
        "() => [...document.querySelectorAll('a')].map(a => [a.textContent.trim(), a.href])"
    )
    preheader_visible = page.locator(".preheader").is_visible()
    greeting = page.get_by_text("Hello Ann Archer,").is_visible()
    page.close()
    assert links and all(text and href.startswith("http") for text, href in links)
    assert ["Unsubscribe", links[-1][1]] == links[-1] and "/unsubscribe/" in links[-1][1]
    assert not preheader_visible
    assert greeting

"""Every kind of email as sent, in headless Chromium on a desktop, on a phone and with the
reader's dark preference: screenshots saved for people to look at, and text contrast checked
(WCAG AA) in light and dark.

Screenshots go to var/screenshots/emails/KIND-desktop.png, -phone.png and -dark.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes, policy
from typing import Literal

import pytest
from playwright.sync_api import Browser, Page, Route

from tests.support.every_email import KINDS
from tests.web.site import DESKTOP, PHONE, SCREENSHOTS

pytestmark = pytest.mark.browser

FOLDER = SCREENSHOTS / "emails"
Scheme = Literal["light", "dark"]
VIEWS: dict[str, tuple[int, Scheme]] = {
    "desktop": (DESKTOP, "light"),
    "phone": (PHONE, "light"),
    "dark": (PHONE, "dark"),
}

# The contrast of each visible element's own text with the colour behind it; AA asks 4.5:1,
# or 3:1 for large text (24px, or 18.7px bold).
LOW_CONTRAST = """() => {
  const rgba = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const behind = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgba(getComputedStyle(el).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0)) return c;
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    const [a, b] = [lum(rgba(style.color)), lum(behind(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < needed) low.push([el.tagName, el.className, el.textContent.trim().slice(0, 40),
                                  Math.round(ratio * 100) / 100]);
  }
  return low;
}"""


def _refuse(route: Route) -> None:
    route.abort()


@pytest.fixture
def page_for(browser: Browser) -> Iterator[object]:
    pages: list[Page] = []

    def open_email(data: bytes, view: str) -> Page:
        width, scheme = VIEWS[view]
        page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
        pages.append(page)
        page.route("**/*", _refuse)  # an email must stand on its own: nothing is fetched
        html = message_from_bytes(data, policy=policy.default).get_body(("html",))
        assert html is not None
        page.set_content(html.get_content(), wait_until="load")
        return page

    yield open_email
    for page in pages:
        page.close()


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_reads_well_and_is_saved_as_a_screenshot(
    kind: str, view: str, every_email: dict[str, bytes], page_for: object
) -> None:
    page = page_for(every_email[kind], view)  # type: ignore[operator]
    FOLDER.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(FOLDER / f"{kind.replace(' ', '-')}-{view}.png"), full_page=True)

    assert page.evaluate(LOW_CONTRAST) == []
    scroll, client = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert scroll <= client
    assert not page.locator(".preheader").is_visible()
    assert page.locator("h1").count() == 1 and page.locator("h1").is_visible()


@pytest.mark.parametrize("kind", ["alert", "weekly digest", "confirm"])
def test_dark_preference_gets_the_dark_palette(
    kind: str, every_email: dict[str, bytes], page_for: object
) -> None:
    light = page_for(every_email[kind], "phone")  # type: ignore[operator]
    dark = page_for(every_email[kind], "dark")  # type: ignore[operator]
    background = "() => getComputedStyle(document.querySelector('.container')).backgroundColor"
    assert light.evaluate(background) == "rgb(255, 255, 255)"
    assert dark.evaluate(background) == "rgb(30, 34, 39)"

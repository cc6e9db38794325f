"""Steps the browser tests share: screenshots at both widths, choosing how often in the
preference centre."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.web.site import DESKTOP, PHONE, fits_the_screen
from tests.web.site import screenshot as save


def shot(page: Page, name: str) -> None:
    """Screenshots of this page at desktop and phone widths; neither scrolls sideways."""
    for width in (DESKTOP, PHONE):
        page.set_viewport_size({"width": width, "height": 900})
        assert fits_the_screen(page), f"{name} scrolls sideways at {width}px"
        save(page, name)
    page.set_viewport_size({"width": DESKTOP, "height": 900})


def choose(page: Page, topic: str, how_often: str) -> None:
    page.get_by_role("radiogroup", name=f"How often for {topic}").get_by_text(how_often).click()

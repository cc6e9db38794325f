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
from typing import Any, Literal

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, StorageState, expect

from newsletter import password_reset, staff_alerts
from newsletter.config import get_settings
from newsletter.models import Incident, IncidentKind, utcnow
from newsletter.rendering import previews
from newsletter.rendering.samples import SAMPLE_RECIPIENT
from tests.browser.axe import serious_problems
from tests.browser.site_tour import (
    ADMIN,
    PASSWORD,
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
HEIGHT = 900
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


@pytest.fixture(scope="module")
def tour(browser: Browser, site: tuple[Site, Places]) -> list[Seen]:
    """The whole tour in one browser context. Each stop is opened once and looked at 1280 px
    wide, then made 320 px wide and looked at again: the same page, without loading it and
    repeating its form a second time."""
    running, places = site
    context = browser.new_context(base_url=running.url, locale="en-GB")
    page = context.new_page()
    seen = []
    for stop in stops(places):
        try:
            page.set_viewport_size({"width": DESKTOP, "height": HEIGHT})
            page.goto(stop.path)
            if stop.action:
                stop.action(page)
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": HEIGHT})
                seen.append(look(page, stop, width))
        except Exception as exc:
            raise AssertionError(f"at the stop {stop.name!r} ({stop.path})") from exc
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


# The tour runs axe over a hundred times; on a busy two-core machine that can take minutes.
TOUR_TIMEOUT = pytest.mark.timeout(900)


@TOUR_TIMEOUT
def test_axe_finds_no_serious_problem_on_any_page(tour: list[Seen]) -> None:
    problems = [line for seen in tour for line in seen.problems]
    assert not problems, "\n".join(problems)


@TOUR_TIMEOUT
def test_every_page_route_is_on_the_tour(tour: list[Seen]) -> None:
    toured = {seen.stop.route for seen in tour}
    routes = {route.path for route in page_routes()}
    assert routes <= toured, f"not on the tour: {sorted(routes - toured)}"
    assert len(routes) >= 25  # the listing found the app's pages, not nothing


@TOUR_TIMEOUT
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
def test_no_page_scrolls_sideways_at_320px(tour: list[Seen]) -> None:
    wide = [
        f"{s.stop.name} ({s.stop.path}): {s.overflow}px"
        for s in tour
        if s.width == NARROW and s.overflow
    ]
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


def every_email() -> dict[str, str]:
    """The HTML part of each kind of email: members' from the previews, the incident email
    that tells admins something is wrong, and the password-reset email to a staff member."""
    messages = {kind: previews.prepare_preview(kind) for kind in previews.KINDS}
    incident = Incident(
        kind=IncidentKind.STUCK_SEND,
        key="stuck_send:1",
        summary="Send 1 (alert: NPQ spring applications) has not moved for 20 minutes",
        detail="412 of 1,200 emails handed over; the rest are still queued.",
        opened_at=utcnow(),
    )
    messages["incident"] = staff_alerts.prepare_email(incident, get_settings())
    messages["password-reset"] = password_reset.link_email(reset_id=1)
    return {
        kind: previews.decoded_part(prepared.personalise(SAMPLE_RECIPIENT), "html")
        for kind, prepared in messages.items()
    }


def test_every_kind_of_email_is_checked() -> None:
    checked = set(every_email())
    assert email_kinds() <= checked, (
        f"no check for the {sorted(email_kinds() - checked)} email: add it to "
        "newsletter.rendering.previews.KINDS, or to every_email() here"
    )


def test_axe_finds_no_serious_problem_in_any_email(browser: Browser) -> None:
    context = browser.new_context()
    # An email stands on its own: nothing is fetched from anywhere.
    context.route("**/*", lambda route: route.abort())
    page = context.new_page()
    problems = []
    for kind, html in every_email().items():
        page.set_viewport_size({"width": DESKTOP, "height": HEIGHT})
        page.set_content(html, wait_until="load")
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": HEIGHT})
            problems += serious_problems(page, f"the {kind} email at {width}px")
    context.close()
    assert not problems, "\n".join(problems)


# --- the topic frequency control --------------------------------------------------------

TEXT_SPACING = (  # WCAG 1.4.12: text must survive these without losing anything
    "* { line-height: 1.5 !important; letter-spacing: 0.12em !important;"
    " word-spacing: 0.16em !important; } p { margin-bottom: 2em !important; }"
)
TOPIC_PAGES = ("subscribe", "manage", "admin member")


def topic_pages(places: Places) -> dict[str, str]:
    return {
        "subscribe": "/subscribe",
        "manage": route_path("/manage/{token}", places),
        "admin member": route_path("/staff/admin/members/{member_id}", places),
    }


@pytest.fixture(scope="module")
def admin(browser: Browser, site: tuple[Site, Places]) -> StorageState:
    """An admin's signed-in session, signed in once (a password check is slow on purpose)."""
    url = site[0].url
    context = browser.new_context(base_url=url)
    page = context.new_page()
    page.goto("/staff/login")
    page.get_by_label("Email address").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/staff")
    state = context.storage_state()
    context.close()
    return state


def narrow_context(
    browser: Browser,
    url: str,
    admin: StorageState,
    bypass_csp: bool = False,
    forced_colors: Literal["active", "none"] = "none",
) -> BrowserContext:
    """A 320 px wide context signed in to the console as an admin."""
    return browser.new_context(
        base_url=url,
        viewport={"width": NARROW, "height": 800},
        locale="en-GB",
        storage_state=admin,
        bypass_csp=bypass_csp,
        forced_colors=forced_colors,
    )


def option_problems(page: Page) -> list[str]:
    """Each option of each topic control: at least 24 x 24 px (WCAG 2.5.8), inside the
    screen, not cut off by any box around it, and what a tap on its middle reaches."""
    problems = []
    for option in page.locator(".segmented label span").all():
        option.scroll_into_view_if_needed()
        problems += option.evaluate(
            """option => {
            const name = option.closest('[role=radiogroup]').getAttribute('aria-label')
                + ': ' + option.textContent;
            const box = option.getBoundingClientRect();
            const problems = [];
            if (box.width < 24 || box.height < 24) {
                problems.push(`${name} is ${box.width} x ${box.height} px`);
            }
            if (box.left < 0 || box.right > document.documentElement.clientWidth) {
                problems.push(`${name} runs off the screen`);
            }
            for (let box_ = option.parentElement; box_; box_ = box_.parentElement) {
                const style = getComputedStyle(box_);
                if (style.overflowX === 'visible' && style.overflowY === 'visible') continue;
                const clip = box_.getBoundingClientRect();
                if (box.left < clip.left - 0.5 || box.right > clip.right + 0.5
                    || box.top < clip.top - 0.5 || box.bottom > clip.bottom + 0.5) {
                    problems.push(`${name} is cut off by ${box_.tagName} ${box_.className}`);
                }
            }
            const hit = document.elementFromPoint(
                box.left + box.width / 2, box.top + box.height / 2);
            if (!hit || !option.parentElement.contains(hit)) {
                problems.push(`${name}: a tap on its middle reaches something else`);
            }
            return problems;
        }"""
        )
    return problems


@pytest.mark.parametrize("spacing", ["normal", "increased text spacing"])
def test_every_topic_option_is_big_enough_and_in_view_at_320px(
    browser: Browser, site: tuple[Site, Places], admin: StorageState, spacing: str
) -> None:
    running, places = site
    # Only the text-spacing stylesheet added by the test needs our CSP lifted.
    context = narrow_context(browser, running.url, admin, bypass_csp=spacing != "normal")
    page = context.new_page()
    problems, options = [], 0
    for name, path in topic_pages(places).items():
        page.goto(path)
        if spacing != "normal":
            page.add_style_tag(content=TEXT_SPACING)
        options += page.locator(".segmented label span").count()
        problems += [f"{name}: {problem}" for problem in option_problems(page)]
        width = page.evaluate("() => document.scrollingElement.scrollWidth")
        if width > NARROW:
            problems.append(f"{name} scrolls sideways ({width}px)")
        if spacing == "normal" and name != "admin member":
            screenshot(page, f"{name}-320")
    context.close()
    assert not problems, "\n".join(problems)
    assert options >= 3 * 4 * 5  # three pages, four options for each of five topics


def test_forced_colours_still_show_the_chosen_frequency(
    browser: Browser, site: tuple[Site, Places], admin: StorageState
) -> None:
    """Windows high-contrast mode drops backgrounds; the chosen option must still stand out."""
    running, places = site
    context = narrow_context(browser, running.url, admin, forced_colors="active")
    page = context.new_page()
    page.goto(topic_pages(places)["manage"])
    assert page.evaluate("() => matchMedia('(forced-colors: active)').matches")
    group = page.get_by_role("radiogroup", name="How often for Funding")
    chosen = group.locator("input:checked + span")
    others = group.locator("input:not(:checked) + span")
    assert chosen.count() == 1 and others.count() == 3
    styles = [look_of(chosen)] + [look_of(others.nth(i)) for i in range(3)]
    screenshot(page, "manage-320-forced-colours")
    context.close()
    chosen_look, *other_looks = styles
    for other in other_looks:
        assert other == other_looks[0]  # the options not chosen all look alike
        assert contrast(chosen_look["background"], other["background"]) >= 3, styles
        assert chosen_look["border"] > other["border"], styles
    assert chosen_look["mark"] not in ("none", "normal")  # the tick


def look_of(option: Locator) -> dict[str, Any]:
    return option.evaluate(
        """span => {
        const style = getComputedStyle(span);
        return {background: style.backgroundColor, text: style.color,
                border: parseFloat(style.borderTopWidth),
                mark: getComputedStyle(span, '::before').content};
    }"""
    )


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio of two CSS rgb()/rgba() colours (alpha ignored)."""

    def luminance(colour: str) -> float:
        red, green, blue = (
            int(float(v)) / 255 for v in colour[colour.index("(") + 1 : -1].split(",")[:3]
        )
        linear = [
            c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (red, green, blue)
        ]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# Records the text added to live regions once a page has loaded: what a screen reader says.
LISTEN_TO_LIVE_REGIONS = """
window.announced = [];
let loaded = false;
document.addEventListener('DOMContentLoaded', () => { loaded = true; });
new MutationObserver(changes => {
    for (const change of changes) {
        const region = change.target.closest && change.target.closest(
            '[role=status], [role=alert], [aria-live]');
        if (!loaded || !region) continue;
        for (const node of change.addedNodes) window.announced.push(node.textContent.trim());
    }
}).observe(document, {childList: true, subtree: true});
"""


def test_a_saved_change_is_announced(browser: Browser, site: tuple[Site, Places]) -> None:
    """The confirmation after Save is said by screen readers: its words arrive in a live
    region after the page has loaded."""
    running, places = site
    context = browser.new_context(base_url=running.url, viewport={"width": DESKTOP, "height": 900})
    context.add_init_script(script=LISTEN_TO_LIVE_REGIONS)
    page = context.new_page()
    page.goto(topic_pages(places)["manage"])
    page.get_by_role("radiogroup", name="How often for Careers").get_by_text("Daily").click()
    page.get_by_role("button", name="Save my choices").click()
    expect(page.get_by_role("status")).to_have_text("Your choices are saved.")
    page.wait_for_function(
        "() => window.announced.includes('Your choices are saved.')", timeout=10_000
    )
    context.close()


@pytest.mark.parametrize("page_name", ["subscribe", "admin member"])
def test_the_focus_ring_stands_out_at_3_to_1(
    browser: Browser, site: tuple[Site, Places], admin: StorageState, page_name: str
) -> None:
    """Tabbing through the page: each thing focused shows a ring of at least 2 px whose colour
    has 3:1 contrast with what is behind it (WCAG 1.4.11, 2.4.7)."""
    running, places = site
    context = narrow_context(browser, running.url, admin)
    page = context.new_page()
    page.set_viewport_size({"width": DESKTOP, "height": 900})
    page.goto(topic_pages(places)[page_name])
    rings = []
    for _ in range(16):
        page.keyboard.press("Tab")
        rings.append(page.evaluate(FOCUS_RING))
    context.close()
    weak = [
        ring
        for ring in rings
        if ring["style"] == "none"
        or ring["width"] < 2
        or contrast(ring["colour"], ring["behind"]) < 3
    ]
    assert not weak, weak
    assert len({ring["element"] for ring in rings}) >= 10  # it went through the page


# The ring of the focused element (for a hidden radio, the option it stands for) and the
# colour behind it: the first ancestor's background that is not transparent.
FOCUS_RING = """() => {
    let shown = document.activeElement;
    if (shown.matches('.segmented input')) shown = shown.nextElementSibling;
    const style = getComputedStyle(shown);
    let behind = 'rgb(255, 255, 255)';
    for (let box = shown.parentElement; box; box = box.parentElement) {
        const background = getComputedStyle(box).backgroundColor;
        if (background !== 'rgba(0, 0, 0, 0)' && background !== 'transparent') {
            behind = background;
            break;
        }
    }
    return {element: document.activeElement.outerHTML.slice(0, 60), style: style.outlineStyle,
            width: parseFloat(style.outlineWidth), colour: style.outlineColor, behind};
}"""


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

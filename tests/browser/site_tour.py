"""A tour of the whole web app: a site with something on every page, and the list of stops
that shows each page (every GET page route of the app, found by listing its routes), the
error and notice pages, and each page's forms after a failed submit.

Stops are opened in order in one browser page; a stop's `action` runs after its page has
loaded (to fill in and submit a form, say), and the tour then looks at whatever is shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import (
    api_tokens,
    incidents,
    links,
    password_reset,
    role_defaults,
    school_calendar,
    suppressions,
    throttle,
)
from newsletter.articles.store import import_article
from newsletter.audience import announcement_audience
from newsletter.chasing import ChaseRule
from newsletter.consent import by_member
from newsletter.db import session_scope
from newsletter.delivery import jobs
from newsletter.delivery.announcements import schedule_announcement, start_send
from newsletter.inbound.process import process_message
from newsletter.inline import inline
from newsletter.members import set_subscriptions
from newsletter.models import (
    ConsentSource,
    Frequency,
    InboundEvent,
    IncidentKind,
    Job,
    JobStatus,
    MemberStatus,
    PasswordReset,
    Send,
    SendKind,
    SendStatus,
    StaffRole,
    utcnow,
)
from newsletter.preferences import MAIL_PER_ADDRESS
from newsletter.staff import create_staff
from newsletter.term_dates import Term
from newsletter.web.app import create_app
from tests.support.delivery_data import add_member
from tests.support.routes import all_routes
from tests.web.site import Site

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "articles"
BOUNCES = ROOT / "tests" / "fixtures" / "bounces"
PASSWORD = "correct horse battery staple"
ADMIN, COMMS = "ada@example.org", "cleo@example.org"
ANN = "ann.archer@example.com"
# A long address: the admin member page's heading must wrap, not push the page sideways.
LONG_EMAIL = "special.educational.needs.coordinator@st-marys-catholic-primary.example.org.uk"
SCHOOL_TERMS = [
    Term("Autumn 1", date(2026, 9, 3), date(2026, 10, 23)),
    Term("Autumn 2", date(2026, 11, 2), date(2026, 12, 18)),
]
BUSY = "busy@example.org"  # has had all the emails an address may ask for this hour
# A new member, a changed one, one kept unsubscribed (Funding, left on the manage page) and a
# bad row: every part of the import's report.
IMPORT_ROWS = (
    "email,name,role,topics\n"
    "nia.head@example.org,Nia,Headteacher,npq:weekly\n"
    "bob@example.com,Bob,Deputy head,npq:immediate;careers:daily\n"
    f"{LONG_EMAIL},,,assessment:daily;funding:immediate\n"
    "not-an-address,Nobody,,npq:weekly\n"
)
LONG_SOURCE = (
    "https://www.gov.uk/government/publications/national-professional-qualifications-npqs"
    "-reforms/national-professional-qualifications-npqs-reforms-spring-2026-cohort"
)

OWN_CHANGE = by_member(ConsentSource.MANAGE_PAGE)

Action = Callable[[Page], None]


@dataclass(frozen=True)
class Stop:
    """One page or state on the tour."""

    name: str
    path: str
    route: str  # the route (path template) it shows, "" for a state no GET route gives
    staff: bool = False
    action: Action | None = None
    failed_submit: bool = False  # the action submits a form that must be refused


@dataclass
class Places:
    """Ids and links into the furnished site, by the route parameter they fill."""

    params: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # route template -> its token


def furnish(site: Site) -> Places:
    """Members, staff, articles, sends, bounces, suppressions and a token: every page has
    content. Runs in-process against the site's database (its NEWSLETTER_* environment)."""
    places = Places()
    with session_scope() as session:
        admin = create_staff(session, ADMIN, PASSWORD, StaffRole.ADMIN, actor="test")
        create_staff(session, COMMS, PASSWORD, StaffRole.COMMS, actor="test")
        ann = add_member(session, ANN, {"funding": "immediate", "npq": "weekly"}, role="SENCO")
        add_member(session, "bob@example.com", {"npq": "immediate", "careers": "daily"})
        add_member(session, "paused@example.com", {"itt": "weekly"}, paused=True)
        add_member(session, "gone@example.com", {}, status=MemberStatus.UNSUBSCRIBED)
        long = add_member(session, LONG_EMAIL, {"assessment": "daily", "funding": "immediate"})
        # Left Funding on the manage page: the member page shows the opt-out and the record.
        set_subscriptions(session, long, {"assessment": Frequency.DAILY}, OWN_CHANGE)
        pending = add_member(session, "new@example.com", {"careers": "weekly"})
        pending.status = MemberStatus.PENDING
        add_member(session, BUSY, {"npq": "weekly"})
        for _ in range(MAIL_PER_ADDRESS.limit):
            throttle.hit(session, MAIL_PER_ADDRESS, BUSY)
        suppressions.add_suppression(session, "left@example.net", "Asked by phone", "test")
        school_calendar.import_terms(session, "england", SCHOOL_TERMS, "test")
        api_tokens.create_token(session, "Website CMS", "test")
        job = Job(
            kind="member-import",
            status=JobStatus.DONE,
            created_by=f"staff:{ADMIN}",
            total=4,
            done=4,
            result={
                "written": True,
                "summary": "Imported 3 rows: 3 new, 0 updated; 1 bad rows skipped.",
                "errors": [{"line": 5, "reason": "invalid email address 'not-an-address'"}],
                "kept": [],
                "error_count": 1,
            },
        )
        session.add(job)
        reset = PasswordReset(staff_id=admin.id, expires_at=utcnow() + timedelta(hours=1))
        session.add(reset)
        _incident(session)
        session.flush()
        places.params |= {"member_id": str(long.id), "slug": "npq", "job_id": str(job.id)}
        reset_link = password_reset.reset_url(reset.id)
        confirm = links.confirm_url(pending.id, pending.token_version)
        manage = links.manage_url(ann.id, ann.token_version)
        address = links.address_url(ann.id, ann.token_version, "ann.archer@example.net")
        ann_id, ann_version = ann.id, ann.token_version

    article_id, send_id = _publish_and_send()
    with session_scope() as session:
        announcement = schedule_announcement(
            session,
            subject="Spring conference: booking open",
            body_markdown="Book your place at the **spring conference** by Friday.",
            topic_slugs=["npq"],
            roles=[],
            at=utcnow() + timedelta(days=3),
            actor=f"staff:{ADMIN}",
        )
        places.params |= {"article_id": str(article_id), "send_id": str(announcement.id)}
        places.params["notice_id"] = str(_urgent_notice(session))
        places.params["role_id"] = str(role_defaults.list_roles(session)[0].id)
        past = _past_announcement(session)
    with inline():
        jobs.queue_send(int(places.params["notice_id"]))
    places.params["event_id"] = str(_bounces())
    unsubscribe = links.unsubscribe_url(ann_id, send_id, ann_version)
    acknowledge = links.acknowledge_url(ann_id, int(places.params["notice_id"]), ann_version)
    places.tokens = {
        "/confirm/{token}": _path(confirm),
        "/manage/{token}": _path(manage),
        "/unsubscribe/{token}": _path(unsubscribe),
        "/confirm/address/{token}": _path(address),
        "/acknowledge/{token}": _path(acknowledge),
        "/archive/{send_id}": f"/archive/{past}",
        "/staff/password-reset/{token}": _path(reset_link),
    }
    return places


def _urgent_notice(session: Session) -> int:
    """An urgent notice started yesterday for NPQ members (Ann among them); it is delivered
    once committed (furnish)."""
    went = utcnow() - timedelta(days=1)
    notice = schedule_announcement(
        session,
        subject="NPQ funding claims due Friday",
        body_markdown="Every lead provider must **submit the claim** by Friday.",
        topic_slugs=["npq"],
        roles=[],
        at=went,
        actor=f"staff:{ADMIN}",
        now=went - timedelta(hours=1),
        acknowledge=ChaseRule(3, 2),
    )
    start_send(session, notice.id, went)
    return notice.id


def _past_announcement(session: Session) -> int:
    """An announcement that went last week: the public archive shows it."""
    went = utcnow() - timedelta(days=7)
    send = Send(
        kind=SendKind.ANNOUNCEMENT,
        status=SendStatus.SENT,
        started_at=went,
        finished_at=went,
        subject="Autumn conference: thank you",
        body_markdown="Thank you for coming to the **autumn conference**.",
        audience=announcement_audience([]).to_json(),
    )
    session.add(send)
    session.flush()
    return send.id


def _publish_and_send() -> tuple[int, int]:
    """Sample articles imported and published; their alerts sent over the site's SMTP."""
    with inline(), session_scope() as session:
        for sample in sorted(SAMPLES.iterdir()):
            source = LONG_SOURCE if sample.name.startswith("npq") else ""
            import_article(session, sample.read_text(), filename=sample.name, source=source)
        outcome = import_article(
            session,
            (SAMPLES / "npq-spring-applications.md").read_text(),
            filename="npq-spring-applications.md",
            publish=True,
            actor="test",
        )
        session.commit()
    from newsletter.models import Send

    with session_scope() as session:
        send_id = session.scalar(
            select(Send.id).where(Send.article_id == outcome.article.id).order_by(Send.id)
        )
    assert send_id is not None, "publishing sent no alert"
    return outcome.article.id, send_id


def _incident(session: Session) -> None:
    """What the watch finds wrong: shown on the dashboard, with a Dismiss button for admins."""
    finding = incidents.Finding(
        IncidentKind.STUCK_SEND,
        "stuck_send:1",
        "Send 1 has not moved for 20 minutes",
        "412 of 1,200 emails handed over; the rest are still queued.",
    )
    incidents.sync(session, [IncidentKind.STUCK_SEND], [finding], utcnow())


def _bounces() -> int:
    """A hard bounce, a spam block and a person's reply come back; the first event's id."""
    for name in ("postfix-user-unknown.eml", "gmail-spam-block.eml", "human-reply.eml"):
        process_message((BOUNCES / name).read_bytes(), "file")
    with session_scope() as session:
        first = session.scalar(select(InboundEvent.id).order_by(InboundEvent.id))
    assert first is not None
    return first


def _path(url: str) -> str:
    return urlsplit(url).path


# --- the routes ------------------------------------------------------------------------------


def page_routes() -> list[APIRoute]:
    """Every route of the app that answers a GET with an HTML page."""
    return [
        route
        for route in all_routes(create_app().routes)
        if isinstance(route, APIRoute)
        and "GET" in (route.methods or set())
        and route.response_class is HTMLResponse
    ]


def route_path(route: str, places: Places) -> str:
    """A path that shows this route, from the furnished site's ids and links."""
    if route in places.tokens:
        return places.tokens[route]
    missing = [p for p in re.findall(r"{(\w+)}", route) if p not in places.params]
    assert not missing, (
        f"the tour has no value for {missing} in {route}: add one to site_tour.furnish()"
    )
    return re.sub(r"{(\w+)}", lambda m: places.params[m.group(1)], route)


# --- the stops ---------------------------------------------------------------------------------


def stops(places: Places) -> Iterator[Stop]:
    """Every page route, then the states no GET shows: errors, notices, results of forms."""
    routes = sorted(r.path for r in page_routes())
    for route in routes:
        if not route.startswith("/staff"):
            yield Stop(route, route_path(route, places), route)
    yield from _public_states(places)
    yield Stop(
        "sign in: wrong password",
        "/staff/login",
        "/staff/login",
        staff=True,
        action=_then(_fill("Email address", ADMIN), _fill("Password", "not it"), _press("Sign in")),
        failed_submit=True,
    )
    yield Stop("signed in", "/staff/login", "", staff=True, action=_sign_in_as(ADMIN))
    for route in routes:
        if route.startswith("/staff"):
            yield Stop(route, route_path(route, places), route, staff=True)
    yield from _staff_states(places)
    yield Stop(
        "admin page as comms staff (403)",
        "/staff/login",
        "",
        staff=True,
        action=_then(_sign_in_as(COMMS), _goto("/staff/admin/members")),
    )


def _public_states(places: Places) -> Iterator[Stop]:
    manage = places.tokens["/manage/{token}"]
    yield Stop("articles filtered, as a digest links", "/articles?topic=npq&since=2020-01-01", "")
    yield Stop("link not valid", "/manage/not-a-real-token", "")
    yield Stop("page not found", "/no-such-page", "")
    yield Stop("manage: saved", f"{manage}?done=saved", "")
    yield Stop("manage: when to email saved", f"{manage}?done=when", "")
    yield Stop(
        "acknowledge: done",
        places.tokens["/acknowledge/{token}"],
        "",
        action=_press("I've read this"),
    )
    yield Stop(
        "unsubscribe: done", places.tokens["/unsubscribe/{token}"], "", action=_press("Unsubscribe")
    )
    yield Stop("too many requests", "/manage", "", action=_submit_email(BUSY, "Send me a link"))
    yield Stop(
        "subscribe: nothing filled in",
        "/subscribe",
        "/subscribe",
        action=_press("Subscribe"),
        failed_submit=True,
    )
    yield Stop(
        "subscribe: no topic chosen",
        "/subscribe",
        "/subscribe",
        action=_submit_email("someone@example.org", "Subscribe"),
        failed_submit=True,
    )
    yield Stop(
        "manage link: not an address",
        "/manage",
        "/manage",
        action=_submit_email("not-an-address", "Send me a link"),
        failed_submit=True,
    )
    yield Stop(
        "manage: a frequency that does not exist",
        manage,
        "/manage/{token}",
        action=_then(_tamper_frequency, _press("Save my choices")),
        failed_submit=True,
    )


def _staff_states(places: Places) -> Iterator[Stop]:
    article = route_path("/staff/articles/{article_id}", places)
    member = route_path("/staff/admin/members/{member_id}", places)

    def failing(name: str, path: str, route: str, action: Action) -> Stop:
        return Stop(name, path, route, staff=True, action=action, failed_submit=True)

    yield failing(
        "new article: empty", "/staff/articles/new", "/staff/articles/new", _press("Import")
    )
    yield failing(
        "article: no topic",
        article,
        "/staff/articles/{article_id}",
        _then(_untick_all("topic"), _press("Save topics")),
    )
    yield Stop("article: saved", f"{article}?notice=topics", "", staff=True)
    yield failing(
        "new announcement: empty",
        "/staff/sends/new",
        "/staff/sends/new",
        _then(_fill("Subject", ""), _press("Schedule")),
    )
    yield failing(
        "new announcement: a chase interval of zero",
        "/staff/sends/new",
        "/staff/sends/new",
        _then(
            _tick("Needs acknowledgement: each email has an “I've read this” button"),
            _fill("Chase those who have not after (days)", "0"),
            _press("Schedule"),
        ),
    )
    yield failing(
        "member: a frequency that does not exist",
        member,
        "/staff/admin/members/{member_id}",
        _then(_tamper_frequency, _press("Save changes")),
    )
    yield failing(
        "member: re-subscribed against their opt-out without a reason",
        member,
        "/staff/admin/members/{member_id}",
        _then(_tick("Re-subscribe against their opt-out"), _press("Save changes")),
    )
    yield Stop(
        "member: kept unsubscribed",
        member,
        "",
        staff=True,
        action=_then(
            _choose("How often for Funding", "Daily"),
            _press("Save changes"),
            _shows("Kept unsubscribed"),
        ),
    )
    yield Stop("member: saved", f"{member}?notice=saved", "", staff=True)
    yield failing(
        "import: nothing to import",
        "/staff/admin/members-import",
        "/staff/admin/members-import",
        _press("Import"),
    )
    yield Stop(
        "import: the report",
        "/staff/admin/members-import",
        "",
        staff=True,
        action=_then(
            _fill("Or paste the rows", IMPORT_ROWS),
            _fill("Where new members' consent comes from", "association membership terms"),
            _tick("Write the good rows even if some are bad"),
            _press("Import"),
            _shows("1 kept unsubscribed"),
        ),
    )
    yield failing(
        "school terms: last day before the first",
        "/staff/admin/terms",
        "/staff/admin/terms",
        _then(
            _fill("Region", "Wales"),
            _fill("First day", "2026-10-30"),
            _fill("Last day", "2026-09-01"),
            _press("Add term"),
        ),
    )
    yield failing(
        "suppression: not an address",
        "/staff/admin/suppression",
        "/staff/admin/suppression",
        _then(_fill("Email address", "nobody"), _press("Add to the list")),
    )
    yield failing(
        "suppression: removed without a reason",
        "/staff/admin/suppression",
        "/staff/admin/suppression",
        # A space gets past the browser's own check of the required field; not past ours.
        _then(_fill("Why may it be emailed again?", " "), _press("Remove")),
    )
    yield failing(
        "staff: password too short",
        "/staff/admin/staff",
        "/staff/admin/staff",
        _then(
            _fill("Email address", "new.staff@example.org"),
            _fill("Password", "short"),
            _press("Create account"),
        ),
    )
    yield failing(
        "topic rules: empty phrase", "/staff/admin/topics", "/staff/admin/topics", _press("Add")
    )
    yield failing("roles: no name", "/staff/admin/roles", "/staff/admin/roles", _press("Add role"))
    yield failing(
        "role: a frequency that does not exist",
        route_path("/staff/admin/roles/{role_id}", places),
        "/staff/admin/roles/{role_id}",
        _then(_tamper_frequency, _press("Save defaults")),
    )
    yield failing(
        "API tokens: no name", "/staff/admin/tokens", "/staff/admin/tokens", _press("Create token")
    )
    yield failing(
        "account: no new password", "/staff/account", "/staff/account", _press("Change password")
    )
    yield failing(
        "password reset: no address",
        "/staff/password-reset",
        "/staff/password-reset",
        _press("Email me a link"),
    )
    yield failing(
        "new password: too short",
        places.tokens["/staff/password-reset/{token}"],
        "/staff/password-reset/{token}",
        _press("Set my new password"),
    )


# --- what a stop does --------------------------------------------------------------------------


def _then(*actions: Action) -> Action:
    def run(page: Page) -> None:
        for action in actions:
            action(page)

    return run


def _goto(path: str) -> Action:
    def run(page: Page) -> None:
        page.goto(path)

    return run


def _press(name: str) -> Action:
    def run(page: Page) -> None:
        with page.expect_navigation():
            page.get_by_role("button", name=name, exact=True).first.click()

    return run


def _fill(label: str, value: str) -> Action:
    def run(page: Page) -> None:
        page.get_by_label(label, exact=True).first.fill(value)

    return run


def _submit_email(address: str, button: str) -> Action:
    return _then(_fill("Email address", address), _press(button))


def _sign_in_as(email: str) -> Action:
    def run(page: Page) -> None:
        _then(_fill("Email address", email), _fill("Password", PASSWORD), _press("Sign in"))(page)
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    return run


def _shows(text: str) -> Action:
    """The stop shows the state it is named for."""

    def run(page: Page) -> None:
        expect(page.get_by_text(text).first).to_be_visible()

    return run


def _tick(label: str) -> Action:
    def run(page: Page) -> None:
        page.get_by_label(label, exact=True).check()

    return run


def _choose(group: str, option: str) -> Action:
    def run(page: Page) -> None:
        page.get_by_role("radiogroup", name=group).get_by_text(option, exact=True).click()

    return run


def _untick_all(name: str) -> Action:
    def run(page: Page) -> None:
        for box in page.locator(f'input[type="checkbox"][name="{name}"]').all():
            box.set_checked(False)

    return run


def _tamper_frequency(page: Page) -> None:
    """What a hand-edited form sends: a frequency the service does not offer."""
    page.locator('input[type="radio"][name^="topic-"]').first.evaluate(
        "radio => { radio.value = 'hourly'; radio.checked = true; }"
    )

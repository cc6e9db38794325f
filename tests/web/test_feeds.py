"""Feeds: Atom feeds of articles, each topic's public calendar of deadlines and each member's
private one, read back as XML and with `icalendar`."""

from __future__ import annotations

import re
from datetime import date, timedelta
from xml.etree import ElementTree

import icalendar
from fastapi.testclient import TestClient

from newsletter.db import session_scope
from newsletter.links import manage_url
from newsletter.models import DatePrecision, Deadline, DeadlineKind, Member, MemberStatus
from newsletter.preferences import revoke_links
from tests.support.delivery_data import add_article, add_member

ATOM = "{http://www.w3.org/2005/Atom}"
SOON = date.today() + timedelta(days=20)


def newsroom(db_url: str) -> tuple[str, int]:
    """Ann follows funding; articles in funding (with a deadline) and NPQ (with another).
    Returns Ann's manage path and her member id."""
    with session_scope(db_url) as session:
        ann = add_member(session, "ann@example.com", {"funding": "weekly"})
        funding = add_article(session, "Capital bids", ["funding"], closes=SOON)
        add_article(session, "Past bids", ["funding"], closes=date(2020, 1, 1))
        npq = add_article(session, "NPQ autumn cohort", ["npq"], closes=SOON + timedelta(days=5))
        funding.deadlines.append(
            Deadline(date=SOON, precision=DatePrecision.DAY, kind=DeadlineKind.OPENS, text="")
        )
        session.flush()
        assert npq.id
        return manage_url(ann.id, ann.token_version).removeprefix("http://localhost:8000"), ann.id


def calendar_link(client: TestClient, manage_path: str) -> str:
    page = client.get(manage_path)
    assert page.status_code == 200
    found = re.search(
        r'id="calendar-url"[^>]*value="http://localhost:8000(/calendar/[^"]+)"', page.text
    )
    assert found, "no calendar link on the manage page"
    return found.group(1)


def events(body: bytes) -> list[tuple[date, str]]:
    calendar = icalendar.Calendar.from_ical(body)
    return [(e.decoded("dtstart"), str(e["summary"])) for e in calendar.walk("VEVENT")]


def test_a_member_subscribes_to_their_topics_deadlines_and_can_revoke_the_link(
    client: TestClient, db_url: str
) -> None:
    manage_path, member_id = newsroom(db_url)
    link = calendar_link(client, manage_path)

    feed = client.get(link)
    revoke = client.post(manage_path, data={"action": "new-calendar-link"})
    old = client.get(link)
    new_link = calendar_link(client, manage_path)

    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    assert events(feed.content) == [(SOON, "Closes: Capital bids")]  # not NPQ, not past, not opens
    [event] = icalendar.Calendar.from_ical(feed.content).walk("VEVENT")
    assert event.walk("VALARM")[0].decoded("trigger") == timedelta(days=-1)
    assert revoke.status_code == 200 and "Your calendar link is new" in revoke.text
    assert old.status_code == 400 and "This link is not valid" in old.text
    assert new_link != link and events(client.get(new_link).content) == events(feed.content)


def test_a_member_who_leaves_has_an_empty_calendar_and_an_altered_link_is_refused(
    client: TestClient, db_url: str
) -> None:
    manage_path, member_id = newsroom(db_url)
    link = calendar_link(client, manage_path)
    client.post(manage_path, data={"action": "unsubscribe-all"})

    manage_token = manage_path.rpartition("/")[2]

    assert events(client.get(link).content) == []
    assert client.get(link.replace(".ics", "x.ics")).status_code == 400
    assert client.get(f"/calendar/{manage_token}.ics").status_code == 400  # another purpose
    with session_scope(db_url) as session:
        assert session.get(Member, member_id).status == MemberStatus.UNSUBSCRIBED  # type: ignore[union-attr]


def test_revoking_all_of_a_members_links_revokes_their_calendar(
    client: TestClient, db_url: str
) -> None:
    manage_path, member_id = newsroom(db_url)
    link = calendar_link(client, manage_path)
    with session_scope(db_url) as session:
        member = session.get(Member, member_id)
        assert member is not None
        revoke_links(session, member, "staff:admin@example.org")

    assert client.get(link).status_code == 400


def test_each_topic_has_a_public_calendar_and_an_unknown_one_is_404(
    client: TestClient, db_url: str
) -> None:
    newsroom(db_url)

    npq = client.get("/feeds/npq/deadlines.ics")

    assert npq.status_code == 200
    assert events(npq.content) == [(SOON + timedelta(days=5), "Closes: NPQ autumn cohort")]
    assert client.get("/feeds/no-such-topic/deadlines.ics").status_code == 404
    assert client.get("/feeds/NOT..A..SLUG/deadlines.ics").status_code == 404


def test_atom_feeds_for_everything_and_per_topic(client: TestClient, db_url: str) -> None:
    newsroom(db_url)

    everything = client.get("/feeds/atom.xml")
    funding = client.get("/feeds/funding/atom.xml")

    assert everything.headers["content-type"].startswith("application/atom+xml")
    titles = {
        name: [
            e.findtext(f"{ATOM}title") or ""
            for e in ElementTree.fromstring(r.content).iter(f"{ATOM}entry")
        ]
        for name, r in (("all", everything), ("funding", funding))
    }
    assert sorted(titles["all"]) == ["Capital bids", "NPQ autumn cohort", "Past bids"]
    assert sorted(titles["funding"]) == ["Capital bids", "Past bids"]
    funding_feed = ElementTree.fromstring(funding.content)
    links = {link.get("rel"): link.get("href") for link in funding_feed.iter(f"{ATOM}link")}
    assert links["self"] == "http://localhost:8000/feeds/funding/atom.xml"
    assert client.get("/feeds/no-such-topic/atom.xml").status_code == 404
    for page, feed in (("/articles", "/feeds/atom.xml"), ("/topics/npq", "/feeds/npq/atom.xml")):
        assert 'type="application/atom+xml" title=' in client.get(page).text
        assert f'href="{feed}">' in client.get(page).text

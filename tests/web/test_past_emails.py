"""The public archive of past digests and announcements: as sent minus personal parts,
searchable by words, filtered by topic and date; bad filters are named beside their field."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from newsletter.audience import announcement_audience, digest_audience
from newsletter.db import session_scope
from newsletter.models import Frequency, Send, SendKind, SendStatus
from tests.support.delivery_data import add_article, topic_ids

MONDAY = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def sent(kind: SendKind, at: datetime, **values: object) -> Send:
    return Send(kind=kind, status=SendStatus.SENT, started_at=at, finished_at=at, **values)


def history(db_url: str) -> dict[str, int]:
    """Two daily digests, a weekly one, two announcements, and sends the archive leaves out."""
    with session_scope(db_url) as session:
        ids = topic_ids(session)
        add_article(session, "Capital bids", ["funding"], published_at=MONDAY - timedelta(hours=3))
        add_article(session, "NPQ autumn cohort", ["npq"], published_at=MONDAY + timedelta(hours=5))
        daily = digest_audience(Frequency.DAILY).to_json()
        sends = {
            "daily-1": sent(SendKind.DIGEST, MONDAY, audience=daily, subject="Your daily digest"),
            "daily-2": sent(
                SendKind.DIGEST, MONDAY + timedelta(days=1), audience=daily, subject="Your daily"
            ),
            "weekly": sent(
                SendKind.DIGEST,
                MONDAY + timedelta(days=4),
                audience=digest_audience(Frequency.WEEKLY).to_json(),
            ),
            "npq-notice": sent(
                SendKind.ANNOUNCEMENT,
                MONDAY + timedelta(days=2),
                subject="NPQ funding confirmed",
                body_markdown="Dear colleague,\n\nScholarships for **every** NPQ are confirmed.",
                audience=announcement_audience([ids["npq"]]).to_json(),
            ),
            "all-notice": sent(
                SendKind.ANNOUNCEMENT,
                MONDAY + timedelta(days=9),
                subject="Conference dates",
                body_markdown="Our spring conference is on 3 March.",
                audience=announcement_audience(ids.values()).to_json(),
            ),
            "alert": sent(SendKind.ALERT, MONDAY, subject="Capital bids"),
            "scheduled": Send(
                kind=SendKind.ANNOUNCEMENT,
                status=SendStatus.SCHEDULED,
                scheduled_at=MONDAY + timedelta(days=30),
                subject="Not sent yet",
            ),
        }
        session.add_all(sends.values())
        session.flush()
        return {name: send.id for name, send in sends.items()}


def titles(html: str) -> list[str]:
    return re.findall(r'<a class="title" href="/archive/\d+">([^<]+)</a>', html)


def test_lists_past_digests_and_announcements_newest_first(client: TestClient, db_url: str) -> None:
    history(db_url)

    page = client.get("/archive")

    assert page.status_code == 200
    assert titles(page.text) == [
        "Conference dates",
        "Weekly digest",
        "NPQ funding confirmed",
        "Daily digest",
        "Daily digest",
    ]


def test_searches_by_words_and_filters_by_topic_and_date(client: TestClient, db_url: str) -> None:
    history(db_url)

    assert titles(client.get("/archive", params={"q": "capital BIDS"}).text) == [
        "Weekly digest",
        "Daily digest",  # the first daily: Capital bids came before it ran
    ]
    assert titles(client.get("/archive", params={"q": "scholarships"}).text) == [
        "NPQ funding confirmed"
    ]
    assert titles(client.get("/archive", params={"topic": "npq"}).text) == [
        "Conference dates",  # sent to every topic
        "Weekly digest",
        "NPQ funding confirmed",
        "Daily digest",  # the second daily carried the NPQ article
    ]
    dated = client.get("/archive", params={"since": "2026-11-24", "until": "2026-11-27"})
    assert titles(dated.text) == ["Weekly digest", "NPQ funding confirmed", "Daily digest"]


def test_an_announcement_is_shown_as_written_and_a_digest_with_all_its_articles(
    client: TestClient, db_url: str
) -> None:
    sends = history(db_url)

    notice = client.get(f"/archive/{sends['npq-notice']}")
    weekly = client.get(f"/archive/{sends['weekly']}")

    assert notice.status_code == 200
    assert "<strong>every</strong>" in notice.text and "Dear colleague," in notice.text
    assert "/unsubscribe/" not in notice.text and "/manage/" not in notice.text
    assert "Hello" not in notice.text
    assert weekly.status_code == 200
    assert "Capital bids" in weekly.text and "NPQ autumn cohort" in weekly.text
    for left_out in ("alert", "scheduled"):
        assert client.get(f"/archive/{sends[left_out]}").status_code == 404


def test_bad_filters_are_named_beside_their_field(client: TestClient, db_url: str) -> None:
    backwards = client.get("/archive", params={"since": "2026-11-27", "until": "2026-11-24"})
    not_a_date = client.get("/archive", params={"since": "27/11/2026"})
    no_topic = client.get("/archive", params={"topic": "astrology"})

    assert backwards.status_code == 400
    assert re.search(r'id="until-error">The end date is before the start date.<', backwards.text)
    assert not_a_date.status_code == 400
    assert re.search(r'id="since-error">Enter a date, like 2026-03-14.<', not_a_date.text)
    assert no_topic.status_code == 400 and "There is no such topic." in no_topic.text

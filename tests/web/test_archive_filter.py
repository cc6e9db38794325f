"""The archive filtered by topics and dates: where a long digest's "and N more" link leads."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient

from newsletter.db import session_scope
from tests.support.delivery_data import add_article


def test_topics_and_dates_narrow_the_archive(client: TestClient, db_url: str) -> None:
    with session_scope(db_url) as session:
        for title, topic, day in [
            ("Funding in the week", "funding", date(2026, 11, 24)),
            ("NPQ in the week", "npq", date(2026, 11, 26)),
            ("Careers in the week", "careers", date(2026, 11, 25)),
            ("Funding the week before", "funding", date(2026, 11, 16)),
        ]:
            add_article(session, title, [topic]).first_published = day

    page = client.get("/articles?topic=funding&topic=npq&since=2026-11-23&until=2026-11-29")

    assert page.status_code == 200
    assert "Funding in the week" in page.text and "NPQ in the week" in page.text
    assert "Careers in the week" not in page.text  # not one of the digest's topics
    assert "Funding the week before" not in page.text  # before the digest's dates
    assert "Published on Funding, NPQ from 23 November 2026 to 29 November 2026" in page.text
    assert "Careers in the week" in client.get("/articles").text


def test_a_bad_date_is_named_not_a_server_error(client: TestClient, db_url: str) -> None:
    page = client.get("/articles?since=yesterday")
    assert page.status_code == 400
    assert "not valid" in page.text

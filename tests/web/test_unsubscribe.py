"""RFC 8058 one-click unsubscribe, from the List-Unsubscribe header of a delivered email."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from newsletter.audience import Audience
from newsletter.db import session_scope
from newsletter.delivery import jobs
from newsletter.delivery.alerts import fan_out_article
from newsletter.delivery.backends.memory import clear
from newsletter.inline import inline
from newsletter.models import DeliveryStatus, Frequency, MemberStatus
from newsletter.preferences import unsubscribe_scope
from newsletter.web.app import create_app
from tests.support.delivery_data import add_article, add_member
from tests.web.helpers import delivery_status, sent_to, status_of, topics_of

ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}


def deliver_alert(db_url: str, title: str, topics: list[str]) -> int:
    """Publish-like: an article's alert fanned out and delivered through the memory backend."""
    with session_scope(db_url) as session:
        article_id = add_article(session, title, topics).id
    with inline():
        send_id = jobs.alert(article_id).send_id
    assert send_id is not None
    return send_id


def unsubscribe_path(address: str) -> str:
    [email] = sent_to(address)
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    found = re.search(r"<(https?://[^>]+/unsubscribe/[^>]+)>", email["List-Unsubscribe"])
    assert found, email["List-Unsubscribe"]
    return urlsplit(found.group(1)).path


def test_one_click_post_unsubscribes_at_once_and_later_sends_skip_them(
    client: TestClient, db_url: str
) -> None:
    with session_scope(db_url) as session:
        add_member(session, "ann@example.com", {"funding": "immediate", "npq": "immediate"})
        add_member(session, "bob@example.com", {"funding": "immediate"})
    deliver_alert(db_url, "Funding news", ["funding"])
    path = unsubscribe_path("ann@example.com")
    with session_scope(db_url) as session:  # queued, not yet delivered
        queued = fan_out_article(session, add_article(session, "Queued", ["funding"]).id).send_id

    # A mail provider's POST: no cookie, no CSRF token, and it must not be redirected.
    with TestClient(create_app(), base_url="http://localhost:8000") as provider:
        answer = provider.post(path, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
        repeat = provider.post(path, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)

    assert answer.status_code == 200 and not answer.history
    assert "You are unsubscribed" in answer.text and "Funding" in answer.text
    assert repeat.status_code == 200
    assert topics_of(db_url, "ann@example.com") == {"npq": "immediate"}
    assert delivery_status(db_url, queued, "ann@example.com") == DeliveryStatus.CANCELLED
    assert delivery_status(db_url, queued, "bob@example.com") == DeliveryStatus.PENDING

    clear()
    deliver_alert(db_url, "More funding news", ["funding"])
    assert sent_to("ann@example.com") == []
    assert len(sent_to("bob@example.com")) == 1


def test_a_get_of_the_link_only_shows_a_button(client: TestClient, db_url: str) -> None:
    with session_scope(db_url) as session:
        add_member(session, "cat@example.com", {"careers": "immediate"})
    deliver_alert(db_url, "Careers news", ["careers"])
    path = unsubscribe_path("cat@example.com")

    for _ in range(3):  # link scanners fetch links, sometimes more than once
        page = client.get(path)
        assert page.status_code == 200
        assert "<button" in page.text and "Careers" in page.text
    assert topics_of(db_url, "cat@example.com") == {"careers": "immediate"}

    # The page's own button posts the same form, as a browser sends it.
    done = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert topics_of(db_url, "cat@example.com") == {}
    assert status_of(db_url, "cat@example.com") == MemberStatus.UNSUBSCRIBED


def test_a_multipart_one_click_post_works_too(client: TestClient, db_url: str) -> None:
    with session_scope(db_url) as session:
        add_member(session, "dan@example.com", {"itt": "immediate"})
    deliver_alert(db_url, "ITT news", ["itt"])
    path = unsubscribe_path("dan@example.com")

    answer = client.post(path, files={"List-Unsubscribe": (None, "One-Click")})

    assert answer.status_code == 200
    assert status_of(db_url, "dan@example.com") == MemberStatus.UNSUBSCRIBED


def test_what_one_send_was_for() -> None:
    mine = [(1, Frequency.IMMEDIATE), (2, Frequency.WEEKLY), (3, Frequency.DAILY)]
    alert = Audience(topic_ids=(1, 2, 9), frequencies=(Frequency.IMMEDIATE,))
    weekly_digest = Audience(topic_ids=None, frequencies=(Frequency.WEEKLY,))
    announcement = Audience(topic_ids=(3,), roles=("SENCO",))

    assert unsubscribe_scope(alert, mine) == {1, 2}
    assert unsubscribe_scope(weekly_digest, mine) == {2}
    assert unsubscribe_scope(announcement, mine) == {3}
    assert unsubscribe_scope(Audience(topic_ids=None), mine) == {1, 2, 3}

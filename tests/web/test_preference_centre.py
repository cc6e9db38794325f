"""Members' pages: subscribe with double opt-in, confirm, manage, pause and leave.

Each test drives the app through HTTP as a member's browser would, reads the emails the
memory backend captured, and checks what is stored.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from newsletter.db import session_scope
from newsletter.delivery.alerts import fan_out_article
from newsletter.models import DeliveryStatus, MemberStatus
from tests.support.delivery_data import add_article, add_member
from tests.web.helpers import (
    delivery_status,
    link_path,
    member,
    outbox_is_empty,
    sent_to,
    text_of,
    topics_of,
)

CHOICES = {"email": "Ann.Archer@Example.com", "name": "Ann Archer", "role": "SENCO"}


def subscribe(client: TestClient, email: str = CHOICES["email"], **topics: str):  # type: ignore[no-untyped-def]
    fields = {**CHOICES, "email": email}
    fields.update({f"topic-{slug}": frequency for slug, frequency in topics.items()})
    return client.post("/subscribe", data=fields, follow_redirects=True)


def test_subscribe_then_confirm_activates_and_welcomes(client: TestClient, db_url: str) -> None:
    page = subscribe(client, funding="immediate", npq="weekly")
    assert page.status_code == 200
    assert "Check your email" in page.text

    pending = member(db_url, "ann.archer@example.com")
    assert pending.status == MemberStatus.PENDING
    assert topics_of(db_url, "ann.archer@example.com") == {"funding": "immediate", "npq": "weekly"}
    [confirm_email] = sent_to("ann.archer@example.com")
    assert "confirm" in confirm_email["Subject"].lower()

    # A GET (a mail scanner, or the member) only shows the button; the POST confirms.
    path = link_path(confirm_email, "confirm")
    for _ in range(2):
        page = client.get(path)
        assert page.status_code == 200 and "Confirm my subscription" in page.text
    assert member(db_url, "ann.archer@example.com").status == MemberStatus.PENDING
    assert len(sent_to("ann.archer@example.com")) == 1

    confirmed = client.post(path, data={"confirm": "yes"})
    assert confirmed.status_code == 200
    assert "You are subscribed" in confirmed.text
    assert member(db_url, "ann.archer@example.com").status == MemberStatus.ACTIVE
    welcome = sent_to("ann.archer@example.com")[-1]
    assert "Welcome" in welcome["Subject"]
    assert "Funding" in text_of(welcome) and "/manage/" in text_of(welcome)

    # The link is used: a replay, by GET or POST, is refused and sends nothing.
    for again in (client.get(path), client.post(path, data={"confirm": "yes"})):
        assert again.status_code == 400 and "This link is not valid" in again.text
    assert len(sent_to("ann.archer@example.com")) == 2  # no second welcome


def test_emails_from_the_public_forms_carry_no_name_typed_into_them(
    client: TestClient, db_url: str
) -> None:
    with session_scope(db_url) as session:
        add_member(session, "bob@example.com", {"assessment": "daily"})
    bait = "Visit evil.example for a prize"
    client.post("/subscribe", data={"email": "new@example.com", "name": bait, "topic-npq": "daily"})
    client.post("/subscribe", data={"email": "bob@example.com", "name": bait, "topic-npq": "daily"})
    [confirm_email] = sent_to("new@example.com")
    client.post(link_path(confirm_email, "confirm"), data={"confirm": "yes"})
    client.post("/manage", data={"email": "new@example.com"})

    emails = sent_to("new@example.com") + sent_to("bob@example.com")
    assert [e["Subject"].split()[0] for e in emails] == ["Please", "Welcome", "Your", "Your"]
    for email in emails:
        assert "evil" not in email.as_string() and "prize" not in email.as_string()
        assert email["To"] in ("new@example.com", "bob@example.com")
        assert text_of(email).startswith("Hello,")


def test_a_post_without_the_form_field_or_from_another_site_confirms_nothing(
    client: TestClient, db_url: str
) -> None:
    subscribe(client, funding="daily")
    path = link_path(sent_to("ann.archer@example.com")[0], "confirm")

    bare = client.post(path)
    elsewhere = client.post(
        path, data={"confirm": "yes"}, headers={"Origin": "https://evil.example"}
    )

    assert bare.status_code == 200 and "Confirm my subscription" in bare.text
    assert elsewhere.status_code == 403
    assert member(db_url, "ann.archer@example.com").status == MemberStatus.PENDING
    same_site = client.post(
        path, data={"confirm": "yes"}, headers={"Origin": "http://localhost:8000"}
    )
    assert same_site.status_code == 200
    assert member(db_url, "ann.archer@example.com").status == MemberStatus.ACTIVE


def test_subscribing_a_known_address_looks_the_same_and_changes_nothing(
    client: TestClient, db_url: str
) -> None:
    with session_scope(db_url) as session:
        add_member(session, "bob@example.com", {"assessment": "daily"})

    known = subscribe(client, "bob@example.com", funding="weekly")
    unknown = subscribe(client, "new@example.com", funding="weekly")

    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text
    assert topics_of(db_url, "bob@example.com") == {"assessment": "daily"}
    [email] = sent_to("bob@example.com")
    assert "/manage/" in text_of(email) and "/confirm/" not in text_of(email)


def test_form_problems_are_shown_beside_the_fields_with_what_was_typed(
    client: TestClient, db_url: str
) -> None:
    page = client.post(
        "/subscribe", data={"email": "not an address", "name": "Ann <b>", "topic-funding": "daily"}
    )
    assert page.status_code == 400
    assert "Enter a valid email address" in page.text
    assert 'value="not an address"' in page.text
    assert 'value="Ann &lt;b&gt;"' in page.text  # re-shown, escaped
    assert 'value="daily" checked' in page.text

    no_topics = client.post("/subscribe", data={"email": "ann@example.com"})
    assert no_topics.status_code == 400
    assert "Choose at least one topic" in no_topics.text

    bad_frequency = client.post(
        "/subscribe", data={"email": "a@example.com", "topic-npq": "hourly"}
    )
    assert bad_frequency.status_code == 400
    assert "Choose how often" in bad_frequency.text
    assert outbox_is_empty()


def test_confirmation_emails_are_rate_limited_per_address(client: TestClient) -> None:
    answers = [
        subscribe(client, "flood@example.com", funding="daily").status_code for _ in range(5)
    ]
    assert answers == [200, 200, 200, 429, 429]
    assert len(sent_to("flood@example.com")) == 3


def test_confirmation_emails_are_rate_limited_per_client(client: TestClient) -> None:
    answers = [
        subscribe(client, f"person{i}@example.com", funding="daily").status_code for i in range(12)
    ]
    assert answers.count(429) == 2
    assert answers[-1] == 429


def test_tampered_or_unknown_links_get_a_plain_400_page(client: TestClient, db_url: str) -> None:
    subscribe(client, funding="daily")
    good = link_path(sent_to("ann.archer@example.com")[0], "confirm")
    tampered = good[:-3] + ("aaa" if not good.endswith("aaa") else "bbb")

    for path in (tampered, "/confirm/nonsense", "/manage/x.y", "/unsubscribe/abc.def"):
        page = client.get(path)
        assert page.status_code == 400, path
        assert "This link is not valid" in page.text
        assert "Traceback" not in page.text
    assert member(db_url, "ann.archer@example.com").status == MemberStatus.PENDING


def test_manage_link_by_request_says_the_same_for_known_and_unknown(
    client: TestClient, db_url: str
) -> None:
    with session_scope(db_url) as session:
        add_member(session, "cat@example.com", {"careers": "weekly"})

    known = client.post("/manage", data={"email": "cat@example.com"}, follow_redirects=True)
    unknown = client.post("/manage", data={"email": "nobody@example.com"}, follow_redirects=True)

    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text
    assert sent_to("nobody@example.com") == []
    [email] = sent_to("cat@example.com")
    page = client.get(link_path(email, "manage"))
    assert page.status_code == 200
    assert "cat@example.com" in page.text
    assert 'name="topic-careers" value="weekly" checked' in page.text


def test_manage_changes_topics_and_cancels_what_no_longer_applies(
    client: TestClient, db_url: str
) -> None:
    with session_scope(db_url) as session:
        dan = add_member(session, "dan@example.com", {"funding": "immediate", "npq": "immediate"})
        funding_news = add_article(session, "Funding news", ["funding"])
        npq_news = add_article(session, "NPQ news", ["npq"])
        funding_send = fan_out_article(session, funding_news.id).send_id
        npq_send = fan_out_article(session, npq_news.id).send_id
        from newsletter.links import manage_token

        token = manage_token(dan.id, dan.token_version)

    saved = client.post(
        f"/manage/{token}",
        data={"topic-npq": "immediate", "topic-assessment": "daily", "action": "save"},
        follow_redirects=True,
    )

    assert saved.status_code == 200 and "Your choices are saved" in saved.text
    assert topics_of(db_url, "dan@example.com") == {"npq": "immediate", "assessment": "daily"}
    assert delivery_status(db_url, funding_send, "dan@example.com") == DeliveryStatus.CANCELLED
    assert delivery_status(db_url, npq_send, "dan@example.com") == DeliveryStatus.PENDING

    # NPQ news weekly from now on: it comes in the digest, so the queued alert is cancelled.
    client.post(f"/manage/{token}", data={"topic-npq": "weekly", "action": "save"})
    assert delivery_status(db_url, npq_send, "dan@example.com") == DeliveryStatus.CANCELLED


def test_pause_and_unsubscribe_all_take_effect_at_once(client: TestClient, db_url: str) -> None:
    with session_scope(db_url) as session:
        eve = add_member(session, "eve@example.com", {"funding": "immediate"})
        send_id = fan_out_article(session, add_article(session, "News", ["funding"]).id).send_id
        from newsletter.links import manage_token

        token = manage_token(eve.id, eve.token_version)

    paused = client.post(f"/manage/{token}", data={"action": "pause"}, follow_redirects=True)
    assert "Emails are paused" in paused.text
    assert member(db_url, "eve@example.com").paused
    assert delivery_status(db_url, send_id, "eve@example.com") == DeliveryStatus.CANCELLED

    client.post(f"/manage/{token}", data={"action": "resume"})
    assert not member(db_url, "eve@example.com").paused

    gone = client.post(
        f"/manage/{token}", data={"action": "unsubscribe-all"}, follow_redirects=True
    )
    assert "unsubscribed from everything" in gone.text
    assert member(db_url, "eve@example.com").status == MemberStatus.UNSUBSCRIBED
    assert topics_of(db_url, "eve@example.com") == {}


def test_revoked_links_stop_working(client: TestClient, db_url: str) -> None:
    from newsletter.links import manage_token
    from newsletter.preferences import revoke_links

    with session_scope(db_url) as session:
        fay = add_member(session, "fay@example.com", {"funding": "weekly"})
        old = manage_token(fay.id, fay.token_version)
        revoke_links(session, fay, actor="test")

    assert client.get(f"/manage/{old}").status_code == 400

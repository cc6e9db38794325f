"""A member changes their address from the manage page: the new address confirms it with a
link (a GET shows a button, the POST changes it, once, within 7 days), the old address is told,
the consent record keeps the history, and the page never tells whose an address is."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from sqlalchemy import select

from newsletter import links
from newsletter.consent import history
from newsletter.db import session_scope
from newsletter.delivery import jobs
from newsletter.inline import inline
from newsletter.models import ConsentField, ConsentSource, Member, MemberStatus
from tests.security import stored
from tests.support.delivery_data import add_article, add_member, suppress
from tests.web.helpers import link_path, member, sent_to, text_of

NEW = "ann.new@example.com"


def manage_path(db_url: str, email: str) -> str:
    found = member(db_url, email)
    return f"/manage/{links.manage_token(found.id, found.token_version)}"


def ask(client: TestClient, path: str, new_email: str):  # type: ignore[no-untyped-def]
    return client.post(
        path, data={"action": "change-email", "new_email": new_email}, follow_redirects=True
    )


@pytest.fixture
def ann(db_url: str) -> str:
    with session_scope(db_url) as session:
        add_member(session, "ann@example.com", {"funding": "immediate"})
    return manage_path(db_url, "ann@example.com")


def test_the_new_address_confirms_the_change_and_the_old_one_is_told(
    client: TestClient, db_url: str, ann: str
) -> None:
    asked = ask(client, ann, "Ann.New@Example.com")
    assert asked.status_code == 200 and "We have sent a link to your new address" in asked.text
    assert member(db_url, "ann@example.com").email == "ann@example.com"  # nothing yet
    assert sent_to("ann@example.com") == []
    [confirm] = sent_to(NEW)
    assert "new email address" in confirm["Subject"]
    assert "ann@example.com" not in confirm.as_string()  # the old address is not shown to it
    assert "/manage/" not in text_of(confirm)
    path = link_path(confirm, "confirm/address")

    for _ in range(2):  # a mail scanner's GETs change nothing
        page = client.get(path)
        assert page.status_code == 200 and "Confirm my new address" in page.text
    assert member(db_url, "ann@example.com").email == "ann@example.com"

    done = client.post(path, data={"confirm": "yes"})
    assert done.status_code == 200 and "Your address is changed" in done.text
    moved = member(db_url, NEW)
    assert moved.status == MemberStatus.ACTIVE and moved.token_version == 2
    [told] = sent_to("ann@example.com")
    assert "has changed" in told["Subject"] and NEW in text_of(told)
    assert "/manage/" not in text_of(told) and "/unsubscribe/" not in text_of(told)
    with session_scope(db_url) as session:
        [event] = [e for e in history(session, moved.id) if e.field == ConsentField.EMAIL]
    assert (event.old_value, event.new_value) == ("ann@example.com", NEW)
    assert (event.source, event.actor) == (ConsentSource.MANAGE_PAGE, "member")

    # Single use, and every link sent to the old address stops working.
    assert client.post(path, data={"confirm": "yes"}).status_code == 400
    assert client.get(ann).status_code == 400
    with session_scope(db_url) as session:
        article_id = add_article(session, "Funding news", ["funding"]).id
    with inline():
        jobs.alert(article_id)
    assert len(sent_to(NEW)) == 2 and len(sent_to("ann@example.com")) == 1


def test_another_members_or_a_suppressed_address_looks_the_same_and_cannot_be_taken(
    client: TestClient, db_url: str, ann: str
) -> None:
    with session_scope(db_url) as session:
        add_member(session, "bob@example.com", {"npq": "weekly"})
        suppress(session, "gone@example.com")

    pages = {
        address: ask(client, ann, address).text
        for address in ("free@example.com", "bob@example.com", "gone@example.com")
    }
    assert len(set(pages.values())) == 1  # whose address it is is not told
    assert sent_to("gone@example.com") == []  # a suppressed address is not even sent the link
    [to_bob] = sent_to("bob@example.com")
    before = stored.everything(db_url)

    taken = client.post(link_path(to_bob, "confirm/address"), data={"confirm": "yes"})
    ann_id = member(db_url, "ann@example.com").id
    forged = links.address_token(ann_id, 1, "gone@example.com")  # as if it had been sent
    suppressed = client.post(f"/confirm/address/{forged}", data={"confirm": "yes"})

    assert taken.status_code == 409 and "already has a subscription" in taken.text
    assert suppressed.status_code == 409 and "cannot send emails to this address" in suppressed.text
    assert stored.everything(db_url) == before


def test_bad_new_addresses_are_shown_beside_the_field(
    client: TestClient, db_url: str, ann: str
) -> None:
    same = ask(client, ann, "ANN@example.com")
    invalid = ask(client, ann, "not an address")

    assert same.status_code == 400 and "This is already your address" in same.text
    assert invalid.status_code == 400 and "Enter a valid email address" in invalid.text
    assert 'value="not an address"' in invalid.text
    assert sent_to("ann@example.com") == []


def test_an_altered_or_week_old_link_changes_nothing(
    client: TestClient, db_url: str, ann: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann_id = member(db_url, "ann@example.com").id
    with monkeypatch.context() as then:
        week_old = int(time.time()) - links.CONFIRM_MAX_AGE_SECONDS - 60
        then.setattr(TimestampSigner, "get_timestamp", lambda self: week_old)
        expired = links.address_token(ann_id, 1, NEW)
    fresh = links.address_token(ann_id, 1, NEW)
    before = stored.everything(db_url)

    for token in (expired, fresh[:-2], fresh.replace(".", "x", 1)):
        assert client.post(f"/confirm/address/{token}", data={"confirm": "yes"}).status_code == 400
        assert client.get(f"/confirm/address/{token}").status_code == 400
    assert stored.everything(db_url) == before
    with session_scope(db_url) as session:
        assert session.scalar(select(Member.email).where(Member.id == ann_id)) == "ann@example.com"

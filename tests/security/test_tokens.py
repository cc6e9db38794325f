"""Member links over HTTP: an altered, truncated, rotated-out, spliced or borrowed token is
refused and changes nothing, and one member's link never changes another member.

tests/unit/test_links.py proves the token reader refuses every one-character change; this
proves every route that acts on a link uses it, and acts on its own member only.
"""

from __future__ import annotations

import string
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itsdangerous import TimestampSigner
from sqlalchemy import select

from newsletter import links
from newsletter.db import session_scope
from newsletter.delivery.alerts import fan_out_article
from newsletter.models import Member, MemberStatus, Send
from newsletter.preferences import revoke_links
from tests.security import stored
from tests.support.delivery_data import add_article, add_member

ALPHABET = string.ascii_letters + string.digits + "-_."
FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
UNSUBSCRIBE = {"List-Unsubscribe": "One-Click"}
CONFIRM = {"confirm": "yes"}


def people(db_url: str) -> dict[str, int]:
    """Ann and Bob, active on funding and npq, and Cat, pending; a send about funding.
    Made once per database: hypothesis calls this for every example."""
    with session_scope(db_url) as session:
        found = dict(session.execute(select(Member.email, Member.id)).all())
        if not found:
            for name, topics, status in (
                ("ann", {"funding": "immediate", "npq": "weekly"}, MemberStatus.ACTIVE),
                ("bob", {"funding": "immediate", "npq": "weekly"}, MemberStatus.ACTIVE),
                ("cat", {"funding": "daily"}, MemberStatus.PENDING),
            ):
                found[f"{name}@example.com"] = add_member(
                    session, f"{name}@example.com", topics, status=status
                ).id
            article = add_article(session, "Pay award", ["funding"])
            session.commit()
            fan_out_article(session, article.id)
        send = session.scalars(select(Send.id)).one()
    return {email.split("@")[0]: member_id for email, member_id in found.items()} | {"send": send}


def acts(client: TestClient) -> dict[str, Callable[[str], int]]:
    """Each route that changes something through a link, as a function of the token."""
    return {
        "manage": lambda t: client.post(f"/manage/{t}", data={"action": "pause"}).status_code,
        "unsubscribe": lambda t: client.post(f"/unsubscribe/{t}", data=UNSUBSCRIBE).status_code,
        "confirm": lambda t: client.post(f"/confirm/{t}", data=CONFIRM).status_code,
        "confirm page": lambda t: client.get(f"/confirm/{t}").status_code,
    }


def tokens_for(member: int, send: int, version: int = 1) -> dict[str, str]:
    return {
        "manage": links.manage_token(member, version),
        "unsubscribe": links.unsubscribe_token(member, send, version),
        "confirm": links.confirm_token(member, version),
        "confirm page": links.confirm_token(member, version),
    }


@FUZZ
@given(kind=st.sampled_from(["manage", "unsubscribe", "confirm", "confirm page"]), data=st.data())
def test_an_altered_or_truncated_link_is_refused_and_changes_nothing(
    client: TestClient, db_url: str, kind: str, data: st.DataObject
) -> None:
    with session_scope(db_url) as session:
        ann = session.scalar(Member.__table__.select().where(Member.email == "ann@example.com"))
    ids = people(db_url) if ann is None else {"cat": 3, "send": 1}
    token = tokens_for(ids["cat"], ids["send"])[kind]
    at = data.draw(st.integers(0, len(token) - 1))
    if data.draw(st.booleans()):
        bad = (
            token[:at]
            + data.draw(st.sampled_from(ALPHABET.replace(token[at], "")))
            + token[at + 1 :]
        )
    else:
        bad = token[:at]
    before = stored.everything(db_url)

    status = acts(client)[kind](bad)

    assert status in (400, 404, 405, 307), (kind, bad)
    assert stored.everything(db_url) == before


def test_links_from_before_a_rotation_are_refused_and_the_new_ones_work(
    client: TestClient, db_url: str
) -> None:
    ids = people(db_url)
    old = tokens_for(ids["cat"], ids["send"])
    with session_scope(db_url) as session:
        cat = session.get(Member, ids["cat"])
        assert cat is not None
        revoke_links(session, cat, actor="test")
    before = stored.everything(db_url)

    refused = {kind: act(old[kind]) for kind, act in acts(client).items()}

    assert refused == {"manage": 400, "unsubscribe": 400, "confirm": 400, "confirm page": 400}
    assert stored.everything(db_url) == before
    assert acts(client)["confirm"](tokens_for(ids["cat"], ids["send"], 2)["confirm"]) == 200
    assert {m[0]: m[3] for m in stored.members(db_url)}["cat@example.com"] == "active"


@pytest.mark.parametrize("kind", ["manage", "unsubscribe", "confirm"])
def test_a_link_of_one_purpose_is_refused_for_the_others(
    client: TestClient, db_url: str, kind: str
) -> None:
    ids = people(db_url)
    before = stored.everything(db_url)
    token = tokens_for(ids["cat"], ids["send"])[kind]

    statuses = {
        other: act(token) for other, act in acts(client).items() if other.split()[0] != kind
    }

    assert set(statuses.values()) == {400}
    assert stored.everything(db_url) == before


def test_a_spliced_link_is_refused(client: TestClient, db_url: str) -> None:
    """Ann's ids with Bob's signature, and the other way round."""
    ids = people(db_url)
    before = stored.everything(db_url)
    for kind, act in acts(client).items():
        ann, bob = (
            tokens_for(ids["ann"], ids["send"])[kind],
            tokens_for(ids["bob"], ids["send"])[kind],
        )
        spliced = [
            ann.rpartition(".")[0] + "." + bob.rpartition(".")[2],
            bob.rpartition(".")[0] + "." + ann.rpartition(".")[2],
        ]
        assert [act(token) for token in spliced] == [400, 400], kind
    assert stored.everything(db_url) == before


def test_one_members_link_changes_that_member_only(client: TestClient, db_url: str) -> None:
    ids = people(db_url)
    ann = tokens_for(ids["ann"], ids["send"])
    bob_before = {m for m in stored.members(db_url) if m[0] == "bob@example.com"}

    naming_bob = {"email": "bob@example.com", "member_id": str(ids["bob"]), "id": str(ids["bob"])}
    client.post(f"/manage/{ann['manage']}", data={**naming_bob, "topic-careers": "weekly"})
    client.post(f"/unsubscribe/{ann['unsubscribe']}", data={**UNSUBSCRIBE, **naming_bob})
    client.post(f"/manage/{ann['manage']}", data={**naming_bob, "action": "unsubscribe-all"})

    after = {m[0]: m for m in stored.members(db_url)}
    assert {after["bob@example.com"]} == bob_before
    assert after["ann@example.com"][3] == "unsubscribed"


def test_a_confirm_link_works_once_and_not_after_a_week(
    client: TestClient, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = people(db_url)
    week_old = int(time.time()) - links.CONFIRM_MAX_AGE_SECONDS - 60
    with monkeypatch.context() as then:
        then.setattr(TimestampSigner, "get_timestamp", lambda self: week_old)
        expired = tokens_for(ids["cat"], ids["send"])["confirm"]
    fresh = tokens_for(ids["cat"], ids["send"])["confirm"]
    before = stored.everything(db_url)

    assert acts(client)["confirm page"](expired) == 400
    assert acts(client)["confirm"](expired) == 400
    assert stored.everything(db_url) == before

    assert acts(client)["confirm"](fresh) == 200
    after = stored.everything(db_url)
    assert {m[0]: m[3] for m in stored.members(db_url)}["cat@example.com"] == "active"
    assert acts(client)["confirm"](fresh) == 400  # replayed
    assert acts(client)["confirm page"](fresh) == 400
    assert stored.everything(db_url) == after

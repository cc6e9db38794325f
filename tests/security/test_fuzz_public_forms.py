"""Every public form, fed generated input by hypothesis: never a server error, and a request
that is refused writes nothing, while one that is accepted writes all it says.

The forms: subscribe, ask for a manage link, manage preferences (with a valid link), the
one-click unsubscribe, confirm, and staff sign-in. Run on SQLite and PostgreSQL, which refuses
NUL characters and over-long integers that SQLite would take.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.db import session_scope
from newsletter.links import manage_token
from newsletter.members import normalise_email
from newsletter.models import Member
from newsletter.web.forms import clean
from tests.security import stored
from tests.support.delivery_data import add_member, topic_ids
from tests.web.helpers import csrf_of

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TOPICS = ("funding", "npq", "itt", "careers", "assessment")
TRICKY = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "ann@example.com",
        "ANN@EXAMPLE.COM\x00",
        "a@b",
        "immediate",
        "daily",
        "weekly",
        "never",
        "'; DROP TABLE member; --",
        "<script>alert(1)</script>",
        "\r\nBcc: eve@example.com",
        "=?utf-8?q?x=0D=0ABcc:_eve@example.com?=",
        "x" * 5000,
        "9" * 40,
        "\ud7ff\ue000\U0010ffff",
        "é@x.example",
    ]
)
TEXT = TRICKY | st.text(max_size=300)
FIELDS = st.sampled_from(
    ["email", "name", "role", "action", "next", "password", "csrf_token", "List-Unsubscribe"]
    + [f"topic-{slug}" for slug in TOPICS]
)
FORMS = st.dictionaries(FIELDS | st.text(max_size=30), TEXT, max_size=9)


def post(client: TestClient, path: str, form: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post(path, data=form, follow_redirects=False)


@FUZZ
@given(form=FORMS)
def test_subscribe(client: TestClient, db_url: str, form: dict[str, str]) -> None:
    stored.forget_rate_limits(db_url)
    before = {m[0]: m for m in stored.members(db_url)}

    answer = post(client, "/subscribe", form)

    assert answer.status_code in (303, 400), answer.text[-2000:]
    after = {m[0]: m for m in stored.members(db_url)}
    if answer.status_code == 400:
        assert after == before
        return
    email = normalise_email(clean(form["email"], 320))  # as the form reads it
    assert {a: m for a, m in after.items() if a != email} == {
        a: m for a, m in before.items() if a != email
    }
    if email in before and before[email][3] == "active":
        assert after[email] == before[email]  # anyone can type an address: nothing changes
        return
    topics = topic_ids_by_slug(db_url)
    chosen = {
        (topics[slug], form[f"topic-{slug}"].strip()[:20])
        for slug in TOPICS
        if form.get(f"topic-{slug}", "").strip()
    }
    assert after[email][3] == "pending" and after[email][6] == chosen


@FUZZ
@given(form=FORMS)
def test_asking_for_a_manage_link(client: TestClient, db_url: str, form: dict[str, str]) -> None:
    stored.forget_rate_limits(db_url)
    before = stored.members(db_url)

    answer = post(client, "/manage", form)

    assert answer.status_code in (303, 400), answer.text[-2000:]
    assert stored.members(db_url) == before  # it only ever sends an email


@FUZZ
@given(form=FORMS)
def test_managing_preferences(client: TestClient, db_url: str, form: dict[str, str]) -> None:
    with session_scope(db_url) as session:
        member = add_member(session, "fuzz@example.com", {"funding": "weekly"})
        token = manage_token(member.id, member.token_version)
        member_id = member.id
    before = stored.members(db_url)

    answer = post(client, f"/manage/{token}", form)

    assert answer.status_code in (303, 400), answer.text[-2000:]
    after = stored.members(db_url)
    others = {m for m in after if m[0] != "fuzz@example.com"}
    assert others == {m for m in before if m[0] != "fuzz@example.com"}
    if answer.status_code == 400:
        assert after == before
    with session_scope(db_url) as session:  # the next example starts from the same member
        session.delete(session.get(Member, member_id))


@FUZZ
@given(form=FORMS, token=TEXT)
def test_links_that_are_not_ours(
    client: TestClient, db_url: str, form: dict[str, str], token: str
) -> None:
    before = stored.everything(db_url)
    token = quote(token, safe="")

    answers = [
        post(client, f"/unsubscribe/{token}", form),
        client.get(f"/unsubscribe/{token}", follow_redirects=False),
        client.get(f"/confirm/{token}", follow_redirects=False),
        client.get(f"/manage/{token}", follow_redirects=False),
        post(client, f"/manage/{token}", form),
    ]

    # Refused, or not a link page at all (an empty token is another path).
    assert {answer.status_code for answer in answers} <= {307, 400, 404, 405}
    assert stored.everything(db_url) == before


@FUZZ
@given(form=FORMS)
def test_staff_sign_in(client: TestClient, db_url: str, form: dict[str, str]) -> None:
    stored.forget_rate_limits(db_url)
    if "csrf_token" not in form:
        form = {**form, "csrf_token": csrf_of(client.get("/staff/login").text)}

    answer = post(client, "/staff/login", form)

    assert answer.status_code in (400, 403, 429), answer.status_code
    assert client.get("/staff", follow_redirects=False).status_code == 303  # not signed in


def topic_ids_by_slug(db_url: str) -> dict[str, int]:
    with session_scope(db_url) as session:
        return topic_ids(session)

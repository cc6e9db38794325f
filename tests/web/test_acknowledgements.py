"""The acknowledgement landing page (GET shows a button, POST records), its refusals, and the
staff view: the send page's tally, the list, the CSV and the compose form's chase fields."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from sqlalchemy import func, select

from newsletter import links
from newsletter.db import session_scope
from newsletter.delivery.backends.memory import clear
from newsletter.models import Acknowledgement, Member, NoticeSend, Send
from tests.support.console import post
from tests.support.delivery_data import add_member
from tests.support.notices import ack_path, schedule_notice, send_notice_inline
from tests.web.helpers import sent_to


@pytest.fixture
def notice(db_url: str) -> int:
    with session_scope(db_url) as session:
        add_member(session, "ann@example.com", {"funding": "weekly"}, role="SENCO")
        add_member(session, "bob@example.com", {"funding": "weekly"}, role="Phase leader")
        add_member(session, "npq@example.com", {"npq": "weekly"})
    clear()
    notice_id = schedule_notice()
    send_notice_inline()
    return notice_id


def acknowledged(db_url: str) -> list[str]:
    with session_scope(db_url) as session:
        return list(
            session.scalars(
                select(Member.email).join(Acknowledgement, Acknowledgement.member_id == Member.id)
            )
        )


def test_the_link_shows_a_button_and_only_its_post_acknowledges_once(
    client: TestClient, db_url: str, notice: int
) -> None:
    [email] = sent_to("ann@example.com")
    assert "I've read this" in email.get_body(("html",)).get_content()  # type: ignore[union-attr]
    path = ack_path(email)

    page = client.get(path)  # a link scanner, or the member opening the link
    assert page.status_code == 200 and "I've read this" in page.text
    assert "ann@example.com" in page.text and acknowledged(db_url) == []
    scanner = client.post(path, data={})  # an automated POST without the form's field
    assert scanner.status_code == 200 and acknowledged(db_url) == []

    done = client.post(path, data={"confirm": "yes"})
    again = client.post(path, data={"confirm": "yes"})

    assert done.status_code == 200 and "Thank you" in done.text
    assert again.status_code == 200
    assert acknowledged(db_url) == ["ann@example.com"]
    assert "You told us you have read this notice" in client.get(path).text


def test_a_changed_link_is_refused_with_a_page_saying_so(
    client: TestClient, notice: int, db_url: str
) -> None:
    path = ack_path(sent_to("ann@example.com")[0])
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")

    for answer in (client.get(tampered), client.post(tampered, data={"confirm": "yes"})):
        assert answer.status_code == 400
        assert "This link is not valid: it was changed or copied incompletely" in answer.text
    assert acknowledged(db_url) == []


def test_a_link_naming_another_member_is_refused(
    client: TestClient, notice: int, db_url: str
) -> None:
    with session_scope(db_url) as session:
        npq = session.scalar(select(Member).where(Member.email == "npq@example.com"))
        assert npq is not None
        # Signed by us, but for a member the notice never went to (a test copy's, say).
        path = "/acknowledge/" + links.acknowledge_url(npq.id, notice, 1).rpartition("/")[2]

    answer = client.post(path, data={"confirm": "yes"})

    assert answer.status_code == 400
    assert "This link is for another member" in answer.text
    assert acknowledged(db_url) == []


def test_an_expired_link_is_refused(
    client: TestClient, notice: int, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(db_url) as session:
        ann = session.scalar(select(Member).where(Member.email == "ann@example.com"))
        assert ann is not None
        long_ago = int(time.time()) - 61 * 86400  # ACK_LINK_DAYS is 60
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: long_ago)
        path = "/acknowledge/" + links.acknowledge_url(ann.id, notice, 1).rpartition("/")[2]
        monkeypatch.undo()

    answer = client.post(path, data={"confirm": "yes"})

    assert answer.status_code == 400
    assert "This link has expired: acknowledgement links work for 60 days" in answer.text
    assert acknowledged(db_url) == []


def test_the_send_page_shows_who_has_acknowledged_by_topic_and_role_and_the_csv(
    comms: TestClient, notice: int
) -> None:
    comms.post(ack_path(sent_to("bob@example.com")[0]), data={"confirm": "yes"})

    page = comms.get(f"/staff/sends/{notice}")
    listing = comms.get(f"/staff/sends/{notice}/acknowledgements")
    exported = comms.get(f"/staff/sends/{notice}/acknowledgements.csv")

    assert page.status_code == 200 and "Acknowledgements" in page.text
    assert '<dd data-field="acknowledged">1</dd>' in page.text
    assert '<dd data-field="waiting">1</dd>' in page.text
    assert '<tr><td>Funding</td><td class="num">1</td><td class="num">1</td></tr>' in page.text
    assert '<tr><td>SENCO</td><td class="num">0</td><td class="num">1</td></tr>' in page.text
    assert listing.status_code == 200 and "ann@example.com" in listing.text
    assert "Not yet" in listing.text
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    header, ann, bob = exported.text.splitlines()
    assert header == "email,name,role,topics,acknowledged,acknowledged_at"
    assert ann == "ann@example.com,Ann,SENCO,Funding,no,"
    assert bob.startswith("bob@example.com,Bob,Phase leader,Funding,yes,20")
    assert comms.get("/staff/sends/999/acknowledgements").status_code == 404


def test_the_acknowledgement_pages_are_for_staff_only(client: TestClient, notice: int) -> None:
    answer = client.get(f"/staff/sends/{notice}/acknowledgements.csv", follow_redirects=False)
    assert answer.status_code == 303 and "/staff/login" in answer.headers["location"]


def draft(**fields: object) -> dict[str, object]:
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    return {
        "subject": "SEND register return due",
        "body": "Every SENCO must submit the return.",
        "topic": ["funding"],
        "date": day.isoformat(),
        "time": "09:30",
        "acknowledge": "yes",
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "field", "problem"),
    [
        ({"chase_days": "0"}, "chase_days", "The days before a chase must be at least 1 (not 0)."),
        ({"chase_days": "-3"}, "chase_days", "The days before a chase must be at least 1"),
        ({"chase_days": "soon"}, "chase_days", "The days must be a whole number"),
        ({"chase_times": "-1"}, "chase_times", "The number of chases cannot be negative (-1)."),
    ],
)
def test_the_compose_form_refuses_a_chase_interval_of_zero_beside_the_field(
    comms: TestClient, db_url: str, fields: dict[str, str], field: str, problem: str
) -> None:
    page = post(
        comms,
        "/staff/sends/new",
        "/staff/sends",
        draft(chase_days="3", chase_times="2") | fields,
    )

    assert page.status_code == 400
    assert f'id="{field}-error"' in page.text and problem in page.text
    assert 'name="acknowledge" value="yes" checked' in page.text
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Send)) == 0


def test_the_compose_form_schedules_a_notice_with_its_chases(
    comms: TestClient, db_url: str
) -> None:
    form = comms.get("/staff/sends/new").text
    assert 'id="chase_days"' in form and 'value="3"' in form

    answer = post(comms, "/staff/sends/new", "/staff/sends", draft(chase_days="4", chase_times="1"))

    assert answer.status_code == 200 and "Scheduled" in answer.text
    with session_scope(db_url) as session:
        place = session.scalar(select(NoticeSend))
        assert place is not None
        assert (place.round, place.chase_days, place.chase_limit) == (0, 4, 1)

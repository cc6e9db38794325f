"""Injection: names, titles and subjects from outside never add a header or a recipient, HTML
and script in them are inert in emails and pages, and SQL metacharacters are only data.

Everything goes through the real paths: the subscribe form, the article store, staff
announcements, the delivery engine (memory backend: the exact bytes an SMTP server would get),
the archive, the preference centre, the console and the API.
"""

from __future__ import annotations

import re
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from newsletter.api_tokens import create_token
from newsletter.articles.store import import_article, publish_article
from newsletter.db import session_scope
from newsletter.delivery import jobs
from newsletter.delivery.announcements import schedule_announcement
from newsletter.delivery.backends import memory
from newsletter.inline import inline
from newsletter.links import manage_token
from newsletter.models import Member, Priority, Send, utcnow
from newsletter.rendering import OutgoingMessage
from tests.security.live_html import body_of, live_parts, main_of
from tests.support.delivery_data import add_article, add_member
from tests.web.helpers import link_path, sent_to

HEADER_TRICKS = [
    "Ann\r\nBcc: eve@example.com",
    "Ann\nX-Evil: 1",
    "Ann\rCc: eve@example.com",
    "Ann\r\n\r\n<html>body injected",
    "=?utf-8?q?Ann=0D=0ABcc:_eve@example.com?=",
    "=?utf-8?b?QW5uDQpCY2M6IGV2ZUBleGFtcGxlLmNvbQ==?=",
    '"Ann" <eve@example.com>',
    "Ann, eve@example.com",
    "Ann\u2028Bcc: eve@example.com\u0085X-Evil: 1",
    "Ann\x0b\x0c\x1b\x7f",
]
HTML_TRICKS = [
    "<script>alert(1)</script>",
    '<img src="x" onerror="alert(1)">',
    '<a href="javascript:alert(1)">click</a>',
    "<iframe src=//evil.example></iframe>",
    '<svg onload="alert(1)">',
    "</title><script>alert(1)</script>",
    "{{ 7*7 }}{% raw %}",
]
SQL_TRICKS = ["Robert'); DROP TABLE member;--", "' OR '1'='1", "%", "_", "\\", '"; --']
HOSTILE = st.sampled_from(HEADER_TRICKS + HTML_TRICKS + SQL_TRICKS) | st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=60
)
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HEADER_LINE = re.compile(rb"^([A-Za-z0-9-]+):|^[ \t]")


def parsed(message: OutgoingMessage) -> EmailMessage:
    found = message_from_bytes(message.data, policy=policy.default)
    assert isinstance(found, EmailMessage)
    return found


def assert_one_recipient_and_no_added_header(message: OutgoingMessage, address: str) -> None:
    head = message.data.split(b"\r\n\r\n", 1)[0]
    names = []
    for line in head.split(b"\r\n"):
        found = HEADER_LINE.match(line)
        assert found, f"not a header line: {line!r}"
        if found.group(1):
            names.append(found.group(1).decode().lower())
    assert b"\n" not in head.replace(b"\r\n", b"") and b"\r" not in head.replace(b"\r\n", b"")
    assert len(names) == len(set(names)), names  # no header given twice
    assert not {"bcc", "cc", "x-evil", "reply-to"} & set(names), names
    email = parsed(message)
    assert message.to == address  # the envelope
    assert [a.addr_spec for a in email["To"].addresses] == [address]
    for name in ("To", "Subject", "From"):
        assert "\r" not in str(email[name]) and "\n" not in str(email[name]), email[name]


def html_of(message: OutgoingMessage) -> str:
    part = parsed(message).get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def deliver_everything(title: str, subject: str) -> None:
    """A breaking article titled `title` and an announcement with `subject`, both to funding
    subscribers, sent now through the delivery engine."""
    with session_scope() as session:
        article_id = add_article(
            session, title, ["funding"], priority=Priority.BREAKING, closes=None
        ).id
        at = utcnow() + timedelta(seconds=1)
        schedule_announcement(
            session,
            subject=subject,
            body_markdown=f"Dear members, {subject}",
            topic_slugs=["funding"],
            roles=[],
            at=at,
            actor="test",
        )
    with inline():
        jobs.alert(article_id)
        jobs.due_sends(at + timedelta(seconds=1))


@FUZZ
@given(name=HOSTILE, title=HOSTILE, subject=HOSTILE.filter(str.strip))  # no blank subject
def test_no_name_title_or_subject_adds_a_header_or_a_recipient(
    db_url: str, name: str, title: str, subject: str
) -> None:
    memory.clear()
    with session_scope() as session:
        session.query(Member).delete()
        add_member(session, "ann@example.com", {"funding": "immediate"})
        session.scalars(select(Member)).one().name = name

    deliver_everything(title, subject)

    assert len(memory.outbox) == 2  # the alert and the announcement, nothing else
    for message in memory.outbox:
        assert_one_recipient_and_no_added_header(message, "ann@example.com")


def test_names_typed_into_the_subscribe_form_add_no_header(client: TestClient) -> None:
    for number, name in enumerate(HEADER_TRICKS):
        address = f"member{number}@example.com"
        answer = client.post(
            "/subscribe", data={"email": address, "name": name, "topic-funding": "immediate"}
        )
        assert answer.status_code == 200, name
        [confirm] = sent_to(address)
        assert "Subject" in confirm and confirm["To"] == address  # no name in it, tricks or not
        confirmed = client.post(link_path(confirm, "confirm"), data={"confirm": "yes"})
        assert confirmed.status_code == 200
    memory.clear()

    deliver_everything("Pay award", "Conference")

    received = {message.to for message in memory.outbox}
    assert received == {f"member{n}@example.com" for n in range(len(HEADER_TRICKS))}
    for message in memory.outbox:
        assert_one_recipient_and_no_added_header(message, message.to)


def test_html_and_script_are_inert_in_emails_and_pages(admin: TestClient, db_url: str) -> None:
    trick = "".join(HTML_TRICKS)
    page = f"<html><head><title>x</title></head><body><h1>Pay award</h1><p>{trick}</p></body>"
    with session_scope() as session:
        member = add_member(session, "ann@example.com", {"funding": "immediate"})
        member.name = "".join(HTML_TRICKS[:2])  # a name is at most 200 characters
        session.flush()
        member_id, token = member.id, manage_token(member.id, member.token_version)
        article = import_article(session, page, filename="pay.html", topics=["funding"]).article
        article.title = article.summary = trick  # plain text: shown, never interpreted
        article_id = article.id
    memory.clear()

    with inline(), session_scope() as session:
        publish_article(session, article_id, actor="test")  # its alert goes out on commit
    deliver_everything(trick, trick)

    assert len(memory.outbox) == 3
    for message in memory.outbox:
        html = html_of(message)
        assert live_parts(body_of(html)) == [], message.data[:300]
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text
    with session_scope() as session:
        send_ids = list(session.scalars(select(Send.id)))
    pages = [
        admin.get(f"/articles/{article_id}"),
        admin.get(f"/manage/{token}"),
        admin.get(f"/staff/articles/{article_id}"),
        admin.get(f"/staff/admin/members/{member_id}"),
        admin.get("/staff/admin/members?q=ann"),
        *(admin.get(f"/staff/sends/{send}") for send in send_ids),
    ]
    for answer in pages:
        assert answer.status_code == 200, answer.url
        assert live_parts(main_of(answer.text)) == [], answer.url
    for send in send_ids:  # the email preview staff see
        preview = admin.get(f"/staff/sends/{send}/preview")
        assert preview.status_code == 200 and live_parts(body_of(preview.text)) == []


def test_sql_metacharacters_are_only_data(admin: TestClient, db_url: str) -> None:
    with session_scope(db_url) as session:
        _, token = create_token(session, "sql", actor="test")
    api = {"Authorization": f"Bearer {token}"}
    address = "o'brien%_@example.com"
    name, role = SQL_TRICKS[0], "' OR '1'='1 \\"
    add_plain = {"email": "plain@example.com", "name": "Plain", "topics": {"npq": "weekly"}}
    assert admin.put("/api/v1/members", json=add_plain, headers=api).status_code == 201

    made = admin.put(
        "/api/v1/members",
        json={"email": address, "name": name, "role": role, "topics": {"funding": "daily"}},
        headers=api,
    )
    read = admin.get(f"/api/v1/members/{address.replace('%', '%25')}", headers=api)

    assert made.status_code == 201, made.text
    assert (read.json()["name"], read.json()["role"]) == (name, role)
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 2  # both still there
    for query, expected in (("'", True), ("%", True), ("_", True), ("' OR '1'='1", False)):
        page = admin.get("/staff/admin/members", params={"q": query})
        assert page.status_code == 200
        assert ("o&#39;brien" in page.text or "o'brien" in page.text) is expected, query
        assert "plain@example.com" not in page.text, query  # wildcards match only themselves

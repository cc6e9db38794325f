"""Unsubscribes are never lost: a one-click POST or a manage-page save that meets a busy database
(SQLite's writer lock held by another process, PostgreSQL's row lock held by another
transaction) is answered 202, kept on disk, and applied once the database is free, at the time
the member asked and in the order they asked; never a 5xx, never dropped."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from newsletter import links, member_requests
from newsletter.consent import history
from newsletter.db import session_scope
from newsletter.delivery import jobs
from newsletter.delivery.alerts import fan_out_article
from newsletter.models import ConsentField, ConsentSource, DeliveryStatus, Member, utcnow
from tests.support.delivery_data import add_article, add_member
from tests.web.helpers import delivery_status, member, topics_of

ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}
BODY = b"List-Unsubscribe=One-Click"


@contextmanager
def database_held(db_url: str, email: str) -> Iterator[None]:
    """Another process's writer lock (SQLite), another transaction's lock on the member's row
    (PostgreSQL), for as long as the block runs."""
    if db_url.startswith("sqlite"):
        other = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as holder:
        holder.execute(text("SELECT id FROM member WHERE email = :e FOR UPDATE"), {"e": email})
        try:
            yield
        finally:
            holder.rollback()
    engine.dispose()


def applied(apply: Callable[[], object] = member_requests.apply_kept) -> None:
    """What the web app's loop and beat's sweep do once the database is free, until nothing is
    kept (the app's own loop may be applying them meanwhile)."""
    deadline = time.monotonic() + 30
    while apply() is not True and not member_requests.spool().is_empty():
        assert time.monotonic() < deadline, "the kept requests were never applied"
        time.sleep(0.1)


def funding_alert(db_url: str, email: str) -> tuple[int, str]:
    """A queued funding alert to this member, and the path of its one-click link."""
    with session_scope(db_url) as session:
        found = session.scalar(select(Member).where(Member.email == email))
        assert found is not None
        send_id = fan_out_article(session, add_article(session, "Pay", ["funding"]).id).send_id
        assert send_id is not None
        token = links.unsubscribe_token(found.id, send_id, found.token_version)
    return send_id, f"/unsubscribe/{token}"


def manage_path(db_url: str, email: str) -> str:
    found = member(db_url, email)
    return f"/manage/{links.manage_token(found.id, found.token_version)}"


def test_a_one_click_that_meets_a_held_database_is_kept_and_applied_after(
    client: TestClient, db_url: str
) -> None:
    with session_scope(db_url) as session:
        add_member(session, "ann@example.com", {"funding": "immediate", "npq": "weekly"})
    send_id, path = funding_alert(db_url, "ann@example.com")

    with database_held(db_url, "ann@example.com"):
        asked_at = utcnow()
        answer = client.post(path, content=BODY, headers=ONE_CLICK)
        assert answer.status_code == 202 and "We have your request" in answer.text
        assert topics_of(db_url, "ann@example.com") == {"funding": "immediate", "npq": "weekly"}
        assert not member_requests.spool().is_empty()

    applied(jobs.sweep)  # beat's sweep applies it (so does the web app's own loop)
    assert topics_of(db_url, "ann@example.com") == {"npq": "weekly"}
    assert delivery_status(db_url, send_id, "ann@example.com") == DeliveryStatus.CANCELLED
    with session_scope(db_url) as session:
        [event] = [
            e
            for e in history(session, member(db_url, "ann@example.com").id)
            if e.field == ConsentField.SUBSCRIPTION and e.new_value == ""
        ]
    assert event.source == ConsentSource.ONE_CLICK and event.actor == "member"
    assert abs(event.created_at - asked_at) < timedelta(seconds=5)  # when she asked
    assert "while the database was unavailable" in event.reason


def test_manage_page_saves_that_meet_a_held_database_are_kept_in_order(
    client: TestClient, db_url: str
) -> None:
    with session_scope(db_url) as session:
        add_member(session, "bob@example.com", {"funding": "immediate"})
    path = manage_path(db_url, "bob@example.com")

    with database_held(db_url, "bob@example.com"):
        saved = client.post(path, data={"action": "save", "topic-careers": "weekly"})
        paused = client.post(path, data={"action": "pause"})
        assert (saved.status_code, paused.status_code) == (202, 202)
    applied()

    assert topics_of(db_url, "bob@example.com") == {"careers": "weekly"}
    assert member(db_url, "bob@example.com").paused


def test_a_later_choice_is_never_overwritten_by_an_earlier_kept_one(
    client: TestClient, db_url: str
) -> None:
    with session_scope(db_url) as session:
        add_member(session, "cat@example.com", {"funding": "immediate", "npq": "daily"})
    _, unsubscribe = funding_alert(db_url, "cat@example.com")
    manage = manage_path(db_url, "cat@example.com")

    with database_held(db_url, "cat@example.com"):
        assert client.post(unsubscribe, content=BODY, headers=ONE_CLICK).status_code == 202
    # The database is free again; before the kept one is applied, she chooses funding weekly.
    # Applied at once after the kept one (303), or kept behind it (202) while the database was
    # found busy a moment ago: either way in the order she asked.
    again = {"action": "save", "topic-funding": "weekly", "topic-npq": "daily"}
    assert client.post(manage, data=again, follow_redirects=False).status_code in (202, 303)
    applied()

    assert topics_of(db_url, "cat@example.com") == {"funding": "weekly", "npq": "daily"}
    with session_scope(db_url) as session:
        sources = [
            e.source
            for e in history(session, member(db_url, "cat@example.com").id)
            if e.field == ConsentField.SUBSCRIPTION and e.source != ConsentSource.CONSOLE
        ]
    assert sources[-2:] == [ConsentSource.ONE_CLICK, ConsentSource.MANAGE_PAGE]


def test_a_request_kept_elsewhere_yields_to_a_later_choice_made_here(
    client: TestClient, db_url: str
) -> None:
    """Another web server kept her one-click while she re-subscribed through this one."""
    with session_scope(db_url) as session:
        add_member(session, "dan@example.com", {"funding": "immediate", "npq": "daily"})
    _, unsubscribe = funding_alert(db_url, "dan@example.com")
    kept_at = utcnow() - timedelta(minutes=1)
    manage = manage_path(db_url, "dan@example.com")
    client.post(manage, data={"action": "save", "topic-funding": "weekly"})
    member_requests.spool().put(
        {
            "kind": "unsubscribe",
            "token": unsubscribe.rpartition("/")[2],
            "source": "one-click",
            "at": kept_at.isoformat(),
        },
        tag=str(member(db_url, "dan@example.com").id),
    )

    applied()

    assert topics_of(db_url, "dan@example.com") == {"funding": "weekly"}


def test_a_link_that_is_not_ours_is_refused_and_nothing_is_kept(
    client: TestClient, db_url: str
) -> None:
    with session_scope(db_url) as session:
        add_member(session, "eve@example.com", {"funding": "immediate"})
    _, path = funding_alert(db_url, "eve@example.com")
    forged = re.sub(r".$", lambda m: "A" if m.group(0) != "A" else "B", path)

    with database_held(db_url, "eve@example.com"):
        answers = [
            client.post(forged, content=BODY, headers=ONE_CLICK).status_code,
            client.post(f"/manage/{forged.rpartition('/')[2]}", data={"action": "pause"}),
        ]

    assert answers[0] == 400 and answers[1].status_code == 400
    assert member_requests.spool().is_empty()

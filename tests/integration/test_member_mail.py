"""Members' own emails through the ledger (newsletter/member_mail.py), on SQLite and PostgreSQL:
recorded in the caller's transaction, sent after its commit, rendered when sent, retried with
backoff, visible in the ledger, never cancelled by a change of topics."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from newsletter import member_mail, preferences
from newsletter.db import session_scope
from newsletter.delivery import jobs, ledger
from newsletter.delivery.backends import memory
from newsletter.inline import inline
from newsletter.links import read_manage_token
from newsletter.member_import import import_members
from newsletter.member_mail import MemberMail
from newsletter.models import (
    Delivery,
    DeliveryStatus,
    Member,
    MemberStatus,
    Send,
    SendKind,
    SendStatus,
    Suppression,
    utcnow,
)
from tests.support.delivery_data import add_member
from tests.support.smtp_server import REJECT, SmtpTestServer


@pytest.fixture(autouse=True)
def _empty_outbox() -> Iterator[None]:
    memory.clear()
    yield
    memory.clear()


def parsed(address: str) -> list[EmailMessage]:
    found = []
    for message in memory.outbox:
        if message.to == address:
            mail = email.message_from_bytes(message.data, policy=policy.default)
            assert isinstance(mail, EmailMessage)
            found.append(mail)
    return found


def ledger_rows(db_url: str) -> list[tuple[str, str, str, int]]:
    """(send key, send status, delivery status, attempts) of every member email."""
    with session_scope(db_url) as session:
        rows = session.execute(
            select(Send.key, Send.status, Delivery.status, Delivery.attempts)
            .join(Delivery, Delivery.send_id == Send.id)
            .where(Send.kind == SendKind.MEMBER_MAIL)
            .order_by(Delivery.id)
        ).all()
    return [
        (key or "", send.value, delivery.value, attempts) for key, send, delivery, attempts in rows
    ]


def queue(db_url: str, kind: MemberMail, address: str, *, commit: bool = True) -> None:
    with inline(), session_scope(db_url) as session:
        member = session.scalar(select(Member).where(Member.email == address))
        assert member is not None
        member_mail.queue(session, kind, member)
        if not commit:
            session.rollback()


def test_an_email_is_sent_after_the_commit_and_recorded_in_the_ledger(db_url: str) -> None:
    with session_scope(db_url) as session:
        add_member(session, "ann@example.com", {"funding": "weekly"})

    queue(db_url, MemberMail.MANAGE_LINK, "ann@example.com", commit=False)
    assert memory.outbox == [] and ledger_rows(db_url) == []

    queue(db_url, MemberMail.MANAGE_LINK, "ann@example.com")
    [sent] = parsed("ann@example.com")
    assert sent["Subject"].startswith("Your link to manage")
    assert "List-Unsubscribe" not in sent  # one member's own email, not list mail
    day = utcnow().date().isoformat()
    assert ledger_rows(db_url) == [(f"member-mail:manage_link:{day}:1", "sending", "sent", 1)]


def test_a_second_email_of_a_kind_on_one_day_goes_through_the_next_send(db_url: str) -> None:
    with session_scope(db_url) as session:
        add_member(session, "bob@example.com", {"npq": "daily"})
        add_member(session, "cat@example.com", {"npq": "daily"})

    for address in ("bob@example.com", "bob@example.com", "cat@example.com", "bob@example.com"):
        queue(db_url, MemberMail.MANAGE_LINK, address)

    assert len(parsed("bob@example.com")) == 3 and len(parsed("cat@example.com")) == 1
    keys = [key.rsplit(":", 1)[1] for key, _, status, _ in ledger_rows(db_url)]
    assert keys == ["1", "2", "1", "3"]
    # Each day's sends stay open for the rest of that day, then the sweep finishes them.
    with session_scope(db_url) as session:
        assert ledger.complete_sends(session, utcnow()) == 0
        assert ledger.complete_sends(session, utcnow() + timedelta(hours=26)) == 3
    assert {send for _, send, _, _ in ledger_rows(db_url)} == {SendStatus.SENT.value}


def test_the_email_is_rendered_when_it_is_sent(db_url: str) -> None:
    """A manage link queued before the member's links were revoked carries the new version."""
    with session_scope(db_url) as session:
        dan = add_member(session, "dan@example.com", {"itt": "weekly"})
        waiting = member_mail.after_response(session)  # held back, as the web app does
        member_mail.queue(session, MemberMail.MANAGE_LINK, dan)
    with session_scope(db_url) as session:
        dan = session.scalars(select(Member)).one()
        preferences.revoke_links(session, dan, actor="test")

    with inline():
        member_mail.release(waiting)

    [sent] = parsed("dan@example.com")
    text = sent.get_body(preferencelist=("plain",))
    assert text is not None
    token = text.get_content().split("/manage/")[1].split()[0]
    assert read_manage_token(token) == (dan.id, 2)


def test_a_refused_email_is_retried_with_backoff_and_a_bounce_suppresses_the_address(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SmtpTestServer(defer={"eve@example.com": 1}, reject={"fay@example.com": REJECT}) as smtp:
        for name, value in {**smtp.env(), "NEWSLETTER_RETRY_BASE_SECONDS": "0"}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("NEWSLETTER_EMAIL_BACKEND", "smtp")
        from newsletter.config import get_settings

        get_settings.cache_clear()
        with session_scope(db_url) as session:
            add_member(
                session, "eve@example.com", {"funding": "daily"}, status=MemberStatus.PENDING
            )
            add_member(
                session, "fay@example.com", {"funding": "daily"}, status=MemberStatus.PENDING
            )

        queue(db_url, MemberMail.CONFIRM, "eve@example.com")
        queue(db_url, MemberMail.CONFIRM, "fay@example.com")
        assert [row[2:] for row in ledger_rows(db_url)] == [("deferred", 1), ("failed", 1)]

        with inline():
            jobs.sweep(utcnow() + timedelta(seconds=1))

        assert [row[2:] for row in ledger_rows(db_url)] == [("sent", 2), ("failed", 1)]
        assert smtp.recipients() == ["eve@example.com"]
    with session_scope(db_url) as session:
        fay = session.scalar(select(Member).where(Member.email == "fay@example.com"))
        assert fay is not None and fay.status == MemberStatus.BOUNCED
    queue(db_url, MemberMail.CONFIRM, "fay@example.com")  # suppressed now: not sent again
    assert ledger_rows(db_url)[-1][2] == DeliveryStatus.SUPPRESSED.value


def test_an_email_that_never_reached_a_worker_is_queued_again_by_the_sweep(db_url: str) -> None:
    with session_scope(db_url) as session:
        add_member(session, "gus@example.com", {"npq": "daily"}, status=MemberStatus.PENDING)
        gus = session.scalars(select(Member)).one()
        member_mail.after_response(session)  # and then never released: the process died
        member_mail.queue(session, MemberMail.CONFIRM, gus)

    with inline():
        assert jobs.sweep(utcnow()) == {}  # a worker may still have it in hand
        queued = jobs.sweep(utcnow() + ledger.MEMBER_MAIL_REQUEUE + timedelta(seconds=1))

    assert len(queued) == 1
    assert len(parsed("gus@example.com")) == 1
    assert ledger_rows(db_url)[0][2:] == ("sent", 1)


def test_changing_topics_leaves_a_members_own_emails_alone(db_url: str) -> None:
    with session_scope(db_url) as session:
        ivy = add_member(session, "ivy@example.com", {"careers": "weekly"})
        member_mail.after_response(session)
        member_mail.queue(session, MemberMail.MANAGE_LINK, ivy)
    with session_scope(db_url) as session:
        ivy = session.scalars(select(Member)).one()
        preferences.unsubscribe_all(session, ivy)

    assert ledger_rows(db_url)[0][2] == DeliveryStatus.PENDING.value
    with inline():
        jobs.sweep(utcnow() + timedelta(minutes=2))
    [sent] = parsed("ivy@example.com")
    assert "not subscribed to any topics" in sent.as_string()


def test_a_confirm_email_for_a_member_no_longer_pending_is_not_sent(db_url: str) -> None:
    with session_scope(db_url) as session:
        jay = add_member(session, "jay@example.com", {"npq": "weekly"}, status=MemberStatus.PENDING)
        member_mail.after_response(session)
        member_mail.queue(session, MemberMail.CONFIRM, jay)
        jay.status = MemberStatus.ACTIVE  # confirmed meanwhile, from an earlier email

    with inline():
        jobs.sweep(utcnow() + timedelta(minutes=2))

    assert memory.outbox == []
    assert ledger_rows(db_url)[0][2] == DeliveryStatus.CANCELLED.value


def test_a_new_address_that_bounces_is_suppressed_and_the_member_keeps_theirs(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SmtpTestServer(reject={"typo@example.com": REJECT}) as smtp:
        for name, value in {**smtp.env(), "NEWSLETTER_EMAIL_BACKEND": "smtp"}.items():
            monkeypatch.setenv(name, value)
        from newsletter.config import get_settings

        get_settings.cache_clear()
        with inline(), session_scope(db_url) as session:
            kim = add_member(session, "kim@example.com", {"npq": "weekly"})
            member_mail.queue(session, MemberMail.ADDRESS_CONFIRM, kim, to="typo@example.com")

    assert ledger_rows(db_url)[0][2] == DeliveryStatus.FAILED.value
    with session_scope(db_url) as session:
        kim = session.scalars(select(Member)).one()
        suppressed = set(session.scalars(select(Suppression.email)))
    assert kim.status == MemberStatus.ACTIVE and suppressed == {"typo@example.com"}


def test_an_import_asks_its_new_pending_members_to_confirm_and_no_one_else(db_url: str) -> None:
    """The summary says "asked to confirm by email": each such member gets one, through the
    ledger; members with a stated consent, or already known, get none."""
    with session_scope(db_url) as session:
        add_member(session, "old@example.com", {"npq": "weekly"})
    text = (
        "email,topics,consent\n"
        "ann@example.com,funding:daily,\n"
        "bob@example.com,funding:daily,signed up at the conference\n"
        "old@example.com,funding:daily,\n"
    )

    with inline(), session_scope(db_url) as session:
        report = import_members(session, text, actor="test")

    assert len(report.to_confirm) == 1 and report.errors == []
    assert [m.to for m in memory.outbox] == ["ann@example.com"]
    [sent] = parsed("ann@example.com")
    assert sent["Subject"].startswith("Please confirm your subscription")
    body = sent.get_body(preferencelist=("plain",))
    assert body is not None and "/confirm/" in body.get_content()
    day = utcnow().date().isoformat()
    assert ledger_rows(db_url) == [(f"member-mail:confirm:{day}:1", "sending", "sent", 1)]

"""The loop closed, with real parts: a real Celery worker sends through an SMTP server on
127.0.0.1; what comes back (a Postfix DSN, an ARF complaint, a mailto unsubscribe, an
out-of-office reply) reaches the service through the real `newsletter inbound serve` (an
smtplib client delivers it) or through a real Dovecot mailbox read by `inbound poll`; the
next send reaches only those it should."""

from __future__ import annotations

import json
import smtplib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from newsletter import dispatch
from newsletter.cli import app
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.models import (
    ConsentEvent,
    InboundEvent,
    Member,
    MemberStatus,
    Priority,
    SendStatus,
    Suppression,
    SuppressionReason,
)
from tests.support.bounces import arf_complaint, mailto_unsubscribe, out_of_office, postfix_dsn
from tests.support.delivery_data import add_article, add_member, send_of, send_status, topic_ids
from tests.support.imap_server import ImapServer, dovecot_server
from tests.support.inbound_server import inbound_server
from tests.support.smtp_server import Received, SmtpTestServer
from tests.support.worker import celery_worker, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ANN, BOB, CAT = "ann@example.com", "bob@example.com", "cat@example.com"
FROM = "School Leaders Network <news@example.org>"


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


@pytest.fixture
def loop_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The worker's settings, plus a From address and a key this process shares."""
    values = {
        **env,
        "NEWSLETTER_FROM_ADDRESS": FROM,
        "NEWSLETTER_SECRET_KEY": "newsletter-test-roundtrip-key-not-a-secret",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return values


@pytest.fixture
def members(loop_env: dict[str, str]) -> None:
    with session_scope() as session:
        for email in (ANN, BOB, CAT):
            add_member(session, email, {"funding": "immediate", "npq": "weekly"})


def publish(title: str) -> int:
    """A breaking funding article, published; waits until its send is finished."""
    with session_scope() as session:
        article_id = add_article(session, title, ["funding"], priority=Priority.BREAKING).id
    dispatch.article_published(article_id)
    key = f"alert:article:{article_id}"
    wait_for(lambda: send_of(key) is not None, 60, "no send")
    send_id = send_of(key)
    assert send_id is not None
    wait_for(lambda: send_status(send_id) == SendStatus.SENT, 90, "send not finished")
    return send_id


def sent_to(smtp: SmtpTestServer) -> dict[str, Received]:
    return {message.rcpt_tos[0]: message for message in smtp.messages}


def member(session: Session, email: str) -> Member:
    found = session.scalar(select(Member).where(Member.email == email))
    assert found is not None
    return found


def subscribed(session: Session, email: str) -> set[str]:
    slugs = {v: k for k, v in topic_ids(session).items()}
    return {slugs[s.topic_id] for s in member(session, email).subscriptions}


def test_what_comes_back_through_inbound_serve_changes_the_next_send(
    loop_env: dict[str, str], members: None, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    with celery_worker(loop_env, tmp_path / "worker.log"):
        publish("Pay award")
        first = sent_to(smtp)
        assert set(first) == {ANN, BOB, CAT}
        assert all(m.mail_from.startswith("news-bounces+") for m in first.values())
        assert len({m.mail_from for m in first.values()}) == 3  # one return path each

        with (
            inbound_server(loop_env, tmp_path / "inbound.log") as port,
            smtplib.SMTP("127.0.0.1", port) as client,
        ):
            client.sendmail("", [first[ANN].mail_from], postfix_dsn(first[ANN]))
            address, request = mailto_unsubscribe(first[BOB])
            client.sendmail(BOB, [address], request)
            client.sendmail("", [first[CAT].mail_from], out_of_office(first[CAT]))
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                client.sendmail("spammer@example.net", ["victim@example.com"], b"Hi\r\n")
            assert refused.value.recipients["victim@example.com"][0] == 550

        with session_scope() as session:
            ann = member(session, ANN)
            assert ann.status == MemberStatus.BOUNCED
            suppression = session.scalar(select(Suppression).where(Suppression.email == ANN))
            assert suppression is not None and suppression.reason == SuppressionReason.HARD_BOUNCE
            assert "User unknown" in suppression.note and suppression.event_id is not None
            assert subscribed(session, BOB) == {"npq"}  # the alert was about funding
            assert member(session, BOB).status == MemberStatus.ACTIVE
            assert member(session, CAT).status == MemberStatus.ACTIVE
            assert subscribed(session, CAT) == {"funding", "npq"}

        smtp.clear()
        publish("Pay award: the details")
    assert Counter(smtp.recipients()) == {CAT: 1}


def test_what_comes_back_through_dovecot_and_inbound_poll_changes_the_next_send(
    loop_env: dict[str, str], members: None, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    with dovecot_server() as imap, celery_worker(loop_env, tmp_path / "worker.log"):
        publish("Pay award")
        first = sent_to(smtp)
        imap.append(postfix_dsn(first[ANN]))
        imap.append(arf_complaint(first[BOB]))
        imap.append(out_of_office(first[CAT]))

        output = poll(imap, "--tls", "--json")
        assert sorted(r["kind"] for r in output) == ["auto_reply", "complaint", "hard_bounce"]
        assert imap.folder_messages("INBOX") == []
        assert len(imap.folder_messages("processed")) == 3

        with session_scope() as session:
            assert member(session, ANN).status == MemberStatus.BOUNCED
            bob = member(session, BOB)
            assert bob.status == MemberStatus.COMPLAINED and not bob.subscriptions
            reasons = dict(session.execute(select(Suppression.email, Suppression.reason)).all())
            assert reasons == {
                ANN: SuppressionReason.HARD_BOUNCE,
                BOB: SuppressionReason.COMPLAINT,
            }
            assert member(session, CAT).status == MemberStatus.ACTIVE

        before = counts()
        mailbox = imap.folder_messages("processed")
        for _ in range(2):  # the same mailbox replayed twice
            for raw in mailbox:
                imap.append(raw)
            again = poll(imap, "--starttls", "--json")
            assert len(again) == 3 and all(r.get("duplicate") for r in again)
        assert counts() == before

        smtp.clear()
        publish("Pay award: the details")
    assert Counter(smtp.recipients()) == {CAT: 1}


def poll(imap: ImapServer, security: str, *args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(
        app, ["inbound", "poll", *imap.poll_args(imap.password, security), *args]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def counts() -> tuple[int, int, int]:
    with session_scope() as session:
        return (
            session.scalar(select(func.count()).select_from(InboundEvent)) or 0,
            session.scalar(select(func.count()).select_from(Suppression)) or 0,
            session.scalar(select(func.count()).select_from(ConsentEvent)) or 0,
        )

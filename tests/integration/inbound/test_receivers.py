"""The ways in, on their own: the inbound SMTP server's limits (other addresses, size, rate),
the IMAP poller's folders and errors against a real Dovecot, and beat's configured poll."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.inbound.receive_smtp import controller
from newsletter.models import InboundEvent, Suppression
from tests.support.delivery_data import add_member
from tests.support.imap_server import ImapServer, dovecot_server
from tests.support.servers import free_port

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "bounces"


@pytest.fixture
def ours(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("NEWSLETTER_FROM_ADDRESS", "School Leaders Network <news@example.org>")
    monkeypatch.setenv("NEWSLETTER_INBOUND_MAX_MESSAGE_BYTES", "200000")
    monkeypatch.setenv("NEWSLETTER_INBOUND_MESSAGES_PER_MINUTE", "3")
    get_settings.cache_clear()
    with session_scope() as session:
        add_member(session, "ann.archer@example.com", {"funding": "immediate"})
    return db_url


@pytest.fixture
def inbound_port(ours: str) -> Iterator[int]:
    port = free_port()
    server = controller(get_settings(), "127.0.0.1", port)
    server.start()
    try:
        yield port
    finally:
        server.stop()


def events() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(InboundEvent)) or 0


def test_inbound_smtp_takes_only_our_addresses_within_its_limits(inbound_port: int) -> None:
    bounce = (CORPUS / "postfix-user-unknown.eml").read_bytes().replace(b"\n", b"\r\n")
    with smtplib.SMTP("127.0.0.1", inbound_port) as client:
        client.ehlo()
        client.mail("")
        for address in (
            "ann.archer@example.com",
            "news-bounces@example.net",
            "postmaster@example.org",
        ):
            code, reply = client.rcpt(address)
            assert code == 550, (address, reply)  # no relaying, no other mailbox
        client.rset()
        with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as too_big:
            client.sendmail("", ["news-bounces@example.org"], bounce + b"x" * 300_000)
        assert too_big.value.smtp_code == 552
    assert events() == 0

    with smtplib.SMTP("127.0.0.1", inbound_port) as client:
        refused = client.sendmail("", ["news-bounces@example.org"], bounce)
        assert refused == {}
        with pytest.raises(smtplib.SMTPSenderRefused) as slow_down:
            for _ in range(5):
                client.sendmail("", ["news-bounces@example.org"], bounce)
        assert slow_down.value.smtp_code == 450
    assert events() == 1  # the same report again and again is one event
    with session_scope() as session:
        assert session.scalar(select(Suppression.email)) == "ann.archer@example.com"


@pytest.fixture
def imap(ours: str) -> Iterator[ImapServer]:
    with dovecot_server() as server:
        yield server


def poll(imap: ImapServer, password: str, ca_file: Path | None = None) -> tuple[int, str]:
    args = imap.poll_args(password, ca_file=ca_file)
    result = CliRunner().invoke(app, ["inbound", "poll", *args])
    return result.exit_code, result.output


def test_unreadable_mail_goes_to_unparsed_the_rest_to_processed(imap: ImapServer) -> None:
    imap.append((CORPUS / "garbage.eml").read_bytes())
    imap.append((CORPUS / "human-reply.eml").read_bytes())
    imap.append((CORPUS / "postfix-user-unknown.eml").read_bytes())
    code, output = poll(imap, imap.password)
    assert code == 0, output
    assert "1 processed, 2 unparsed, 0 left" in output
    assert len(imap.folder_messages("unparsed")) == 2
    assert len(imap.folder_messages("processed")) == 1
    assert imap.folder_messages("INBOX") == []


def test_a_wrong_password_is_one_line_and_changes_nothing(imap: ImapServer) -> None:
    imap.append((CORPUS / "postfix-user-unknown.eml").read_bytes())
    code, output = poll(imap, "wrong")
    assert code == 1
    assert "IMAP login failed for bounces@127.0.0.1" in output and "Traceback" not in output
    assert len(imap.folder_messages("INBOX")) == 1 and events() == 0


def test_an_untrusted_certificate_is_refused(imap: ImapServer, tmp_path: Path) -> None:
    from tests.support.certs import TestCA

    other = tmp_path / "other-ca.pem"
    other.write_bytes(TestCA("Someone else").cert_pem)
    code, output = poll(imap, imap.password, ca_file=other)
    assert code == 1 and "CERTIFICATE_VERIFY_FAILED" in output
    assert events() == 0


def test_beat_polls_the_mailbox_the_settings_name(
    imap: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.celery_app import beat_schedule

    settings = {
        "NEWSLETTER_IMAP_HOST": "127.0.0.1",
        "NEWSLETTER_IMAP_PORT": str(imap.port),
        "NEWSLETTER_IMAP_SECURITY": "starttls",
        "NEWSLETTER_IMAP_USER": imap.user,
        "NEWSLETTER_IMAP_PASSWORD": imap.password,
        "NEWSLETTER_IMAP_CA_FILE": str(imap.ca_file),
        "NEWSLETTER_IMAP_POLL_MINUTES": "3",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    entry = beat_schedule(get_settings())["inbound-poll"]
    assert entry["schedule"].total_seconds() == 180  # type: ignore[attr-defined]

    imap.append((CORPUS / "postfix-user-unknown.eml").read_bytes())
    from workers.tasks import poll_inbound

    poll_inbound()  # what beat's entry runs in a worker
    assert events() == 1 and len(imap.folder_messages("processed")) == 1


def test_without_a_mailbox_beat_does_not_poll(ours: str) -> None:
    from workers.celery_app import beat_schedule

    assert "inbound-poll" not in beat_schedule(get_settings())

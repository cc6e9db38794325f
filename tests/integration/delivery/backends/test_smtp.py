"""The smtp backend against a real aiosmtpd server on 127.0.0.1, including the ways it fails."""

from __future__ import annotations

import email
import logging
import subprocess
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest

from newsletter.config import Settings
from newsletter.delivery.backends import get_backend
from newsletter.delivery.backends.base import BackendUnavailable, Outcome, SendResult
from newsletter.delivery.backends.smtp import RECONNECTS_IN_A_ROW
from newsletter.rendering import OutgoingMessage
from tests.support.outgoing import outgoing
from tests.support.servers import free_port
from tests.support.smtp_server import Script, SmtpTestServer, read_outbox, smtp_server_process


def settings_for(port: int, **extra: Any) -> Settings:
    return Settings(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_TIMEOUT=20, **extra)


def send(settings: Settings, messages: list[OutgoingMessage]) -> list[SendResult]:
    connection = get_backend("smtp", settings).open()
    try:
        return connection.send_batch(messages)
    finally:
        connection.close()


def outcomes(results: list[SendResult]) -> list[Outcome]:
    return [result.outcome for result in results]


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture(params=[True, False], ids=["pipelining", "one-command-at-a-time"])
def smtp(script: Script, request: pytest.FixtureRequest) -> Iterator[SmtpTestServer]:
    # Every test here runs against a server that offers PIPELINING and one that does not.
    with SmtpTestServer(script=script, pipelining=request.param) as server:
        yield server
    for received in server.messages:  # whatever a test sent, what was accepted is sound mail
        assert email.message_from_bytes(received.data, policy=policy.default).defects == []


def test_accepted_messages_arrive_intact(smtp: SmtpTestServer) -> None:
    messages = [
        outgoing(f"member{i}@example.com", f"Alert {i}", "Café – naïve\n") for i in range(3)
    ]

    results = send(settings_for(smtp.port), messages)

    assert outcomes(results) == [Outcome.SENT] * 3
    assert all(r.code == 250 and "queued as" in r.detail for r in results)
    received = smtp.messages
    assert [m.rcpt_tos for m in received] == [(m.to,) for m in messages]
    assert {m.mail_from for m in received} == {"news@localhost"}
    for sent, got in zip(messages, received, strict=True):
        parsed = email.message_from_bytes(got.data, policy=policy.default)
        assert parsed["Subject"] == email.message_from_bytes(sent.data)["Subject"]
        assert parsed["Message-ID"] == sent.message_id
        assert parsed.get_content().splitlines() == ["Café – naïve"]


def test_lines_that_start_with_a_dot_arrive_as_written(smtp: SmtpTestServer) -> None:
    data = (
        b"From: news@localhost\r\nTo: ann@example.com\r\nSubject: dots\r\n"
        b"Message-ID: <dots@localhost>\r\n\r\n"
        b".a line that starts with a dot\r\n..two dots\r\n.\r\nlast line, no line break"
    )
    message = OutgoingMessage("ann@example.com", "<dots@localhost>", data)

    assert outcomes(send(settings_for(smtp.port), [message])) == [Outcome.SENT]

    [received] = smtp.messages
    assert received.data == data + b"\r\n"  # the only change: the last line gets its CRLF


def test_each_reply_gets_its_outcome_and_the_batch_goes_on(
    smtp: SmtpTestServer, script: Script
) -> None:
    script.defer = {"later@example.com": 1}
    script.reject = {
        "gone@example.com": "550 5.1.1 No such user",
        "spam@example.com": "554 5.7.1 Rejected by policy",
    }
    batch = [outgoing(f"{name}@example.com") for name in ("ann", "later", "gone", "spam", "bob")]

    results = send(settings_for(smtp.port), batch)

    assert outcomes(results) == [
        Outcome.SENT,
        Outcome.DEFERRED,
        Outcome.FAILED,
        Outcome.FAILED,
        Outcome.SENT,
    ]
    deferred, bounced, refused = results[1:4]
    assert (deferred.code, deferred.hard_bounce) == (451, False)
    assert (bounced.code, bounced.hard_bounce) == (550, True)
    assert (refused.code, refused.hard_bounce) == (554, False)
    assert "No such user" in bounced.detail
    assert smtp.recipients() == ["ann@example.com", "bob@example.com"]

    # The 451 was for the first attempt only: the next try goes through.
    assert outcomes(send(settings_for(smtp.port), [batch[1]])) == [Outcome.SENT]
    assert smtp.recipients() == ["ann@example.com", "bob@example.com", "later@example.com"]


def test_a_dropped_connection_defers_the_cut_message_and_the_rest_still_go(
    smtp: SmtpTestServer, script: Script
) -> None:
    script.drop = {"cut@example.com": 1}
    batch = [outgoing(f"{name}@example.com") for name in ("ann", "bob", "cut", "dan", "eve")]

    results = send(settings_for(smtp.port), batch)

    assert outcomes(results) == [
        Outcome.SENT,
        Outcome.SENT,
        Outcome.DEFERRED,
        Outcome.SENT,
        Outcome.SENT,
    ]
    assert "lost during the transaction" in results[2].detail
    assert smtp.recipients() == [
        "ann@example.com",
        "bob@example.com",
        "dan@example.com",
        "eve@example.com",
    ]


def test_when_the_server_is_gone_after_a_drop_the_rest_are_deferred(
    smtp: SmtpTestServer, script: Script
) -> None:
    def stop_listening_at_cut(address: str, attempt: int) -> None:
        if address == "cut@example.com":
            smtp.stop_listening()

    script.rule = stop_listening_at_cut
    script.drop = {"cut@example.com": 1}
    batch = [outgoing(f"{name}@example.com") for name in ("ann", "cut", "dan", "eve")]

    results = send(settings_for(smtp.port), batch)

    assert outcomes(results) == [Outcome.SENT] + [Outcome.DEFERRED] * 3
    assert f"127.0.0.1:{smtp.port}" in results[3].detail
    assert smtp.recipients() == ["ann@example.com"]


def test_a_server_that_drops_everything_gets_nothing_reported_sent() -> None:
    with SmtpTestServer(script=Script(drop_fraction=1.0)) as smtp:
        results = send(settings_for(smtp.port), [outgoing(f"m{i}@example.com") for i in range(8)])

    assert outcomes(results) == [Outcome.DEFERRED] * 8
    assert smtp.messages == []


def test_after_drops_in_a_row_the_rest_go_back_untried_and_the_log_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    addresses = [f"m{i}@example.com" for i in range(8)]
    with (
        SmtpTestServer(script=Script(drop_fraction=1.0)) as smtp,
        caplog.at_level(logging.WARNING, logger="newsletter.delivery.backends.smtp"),
    ):
        results = send(settings_for(smtp.port), [outgoing(a) for a in addresses])
        tried = [a for a in addresses if smtp.rcpt_attempts(a)]
    where = f"127.0.0.1:{smtp.port}"

    assert tried == addresses[: 1 + RECONNECTS_IN_A_ROW]  # the first connection, then each new
    untried = results[len(tried) :]
    assert {r.detail for r in untried} == {f"not sent: the connection to {where} was lost"}
    [warning] = [r.getMessage() for r in caplog.records]
    assert f"deferring the rest of this batch untried: the connection to {where}" in warning


def test_mail_with_bare_line_feeds_is_refused(smtp: SmtpTestServer) -> None:
    good = outgoing("ann@example.com")
    bare = OutgoingMessage("bob@example.com", "<bare@localhost>", good.data.replace(b"\r\n", b"\n"))

    results = send(settings_for(smtp.port), [bare, good])

    assert outcomes(results) == [Outcome.FAILED, Outcome.SENT]
    assert "Bare LF" in results[0].detail
    assert smtp.recipients() == ["ann@example.com"]


def test_an_unreachable_server_is_named() -> None:
    port = free_port()  # nothing listens here

    with pytest.raises(BackendUnavailable, match=f"cannot connect .*127.0.0.1:{port}"):
        get_backend("smtp", settings_for(port)).open()


def test_wrong_credentials_are_named() -> None:
    with SmtpTestServer(credentials=("mailer", "right")) as smtp:
        wrong = settings_for(smtp.port, SMTP_USERNAME="mailer", SMTP_PASSWORD="wrong")
        with pytest.raises(BackendUnavailable) as error:
            get_backend("smtp", wrong).open()

        right = settings_for(smtp.port, SMTP_USERNAME="mailer", SMTP_PASSWORD="right")
        assert outcomes(send(right, [outgoing("ann@example.com")])) == [Outcome.SENT]

    assert f"127.0.0.1:{smtp.port}" in str(error.value)
    assert "authentication failed for user 'mailer'" in str(error.value)


def test_missing_credentials_defer_rather_than_fail() -> None:
    with SmtpTestServer(credentials=("mailer", "right")) as smtp:
        results = send(settings_for(smtp.port), [outgoing("ann@example.com")])

    assert outcomes(results) == [Outcome.DEFERRED]
    assert results[0].code == 530


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "ssl"])
def test_tls_with_login(
    certificate: tuple[Path, Path], implicit: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # trust the test certificate
    tls = {"SMTP_SSL": True} if implicit else {"SMTP_STARTTLS": True}
    server = SmtpTestServer(
        credentials=("mailer", "pw"), tls_cert=certificate, implicit_tls=implicit
    )
    with server as smtp:
        settings = settings_for(smtp.port, SMTP_USERNAME="mailer", SMTP_PASSWORD="pw", **tls)
        assert outcomes(send(settings, [outgoing("ann@example.com")])) == [Outcome.SENT]

    assert smtp.recipients() == ["ann@example.com"]


def test_an_untrusted_certificate_is_refused(certificate: tuple[Path, Path]) -> None:
    with SmtpTestServer(tls_cert=certificate) as smtp:
        settings = settings_for(smtp.port, SMTP_STARTTLS=True)
        with pytest.raises(BackendUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            get_backend("smtp", settings).open()


def test_the_standalone_server_writes_what_it_accepts_to_a_folder(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    with smtp_server_process(outbox, "--reject", "gone@example.com") as port:
        results = send(
            settings_for(port), [outgoing("ann@example.com"), outgoing("gone@example.com")]
        )

    assert outcomes(results) == [Outcome.SENT, Outcome.FAILED]
    assert results[1].hard_bounce
    received = read_outbox(outbox)
    assert [m.rcpt_tos for m in received] == [("ann@example.com",)]
    assert email.message_from_bytes(received[0].data)["To"] == "ann@example.com"

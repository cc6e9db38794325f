"""Classification of what comes back, on messages built in the test: pure, no database."""

from __future__ import annotations

from pathlib import Path

from newsletter.inbound.classify import classify
from newsletter.inbound.verp import Addresses
from newsletter.models import InboundKind

ADDRESSES = Addresses("news-bounces", "example.org", "unsubscribe", b"k" * 32)
CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "bounces"


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def test_bad_input_is_unknown_with_a_reason_and_never_raises() -> None:
    cases = {
        b"": "empty",
        b"\x00\xff\xfe garbage \x89PNG": "not an email message",
        corpus("truncated-mime.eml"): "truncated",
        corpus("bounce-of-a-bounce.eml"): "mail loop",
        b"Content-Type: multipart/report; boundary=x\n\n": "truncated or malformed MIME",
        b"Received: x\n" * 40 + b"From: a@b.c\n\nhi\n": "mail loop",
        b'From: a@b.c\nContent-Type: multipart/mixed; boundary="' + b"a" * 5000 + b'"\n\n--': "",
    }
    for raw, reason in cases.items():
        result = classify(raw, ADDRESSES)
        assert result.kind == InboundKind.UNKNOWN, (raw[:60], result)
        assert reason in result.reason


def test_a_message_over_the_limit_is_not_parsed() -> None:
    result = classify(corpus("postfix-user-unknown.eml") + b"x" * 2000, ADDRESSES, max_bytes=1000)
    assert result.kind == InboundKind.UNKNOWN and "too large" in result.reason


def test_deeply_nested_mime_is_unknown() -> None:
    raw = b"From: a@b.c\nSubject: nest\n"
    for depth in range(300):
        raw += f'Content-Type: multipart/mixed; boundary="b{depth}"\n\n--b{depth}\n'.encode()
    result = classify(raw, ADDRESSES)
    assert result.kind in (InboundKind.UNKNOWN, InboundKind.AUTO_REPLY)


def test_the_return_path_token_is_taken_from_the_envelope_first() -> None:
    token = ADDRESSES.token(3, 4)
    raw = corpus("postfix-user-unknown.eml")
    result = classify(raw, ADDRESSES, [f"news-bounces+{token}@example.org"])
    assert result.verp_token == token and result.addressed_to == "bounce"


def test_a_returned_message_with_our_return_path_gives_the_token() -> None:
    token = ADDRESSES.token(3, 4)
    raw = corpus("arf-complaint-yahoo.eml").replace(
        b"Return-Path: <news-bounces@example.org>",
        f"Return-Path: <news-bounces+{token}@example.org>".encode(),
    )
    result = classify(raw, ADDRESSES)
    assert result.kind == InboundKind.COMPLAINT and result.verp_token == token


def test_out_of_office_is_an_auto_reply_but_an_exim_bounce_is_not() -> None:
    assert classify(corpus("out-of-office-outlook.eml"), ADDRESSES).kind == InboundKind.AUTO_REPLY
    exim = corpus("exim-retry-timeout.eml")
    assert b"Auto-Submitted: auto-replied" in exim
    assert classify(exim, ADDRESSES).kind == InboundKind.SOFT_BOUNCE


def test_a_mailto_unsubscribe_needs_the_token() -> None:
    result = classify(corpus("mailto-unsubscribe.eml"), ADDRESSES)
    assert result.kind == InboundKind.UNSUBSCRIBE
    assert result.unsubscribe_token == "MjIuMS4x.y_SQ4MudojzZsabJvpGUAYIUddk"
    bare = corpus("mailto-unsubscribe.eml").replace(
        b"Subject: unsubscribe-MjIuMS4x.y_SQ4MudojzZsabJvpGUAYIUddk", b"Subject: unsubscribe"
    )
    assert classify(bare, ADDRESSES).kind == InboundKind.UNKNOWN


def test_a_feedback_report_that_is_not_abuse_is_not_a_complaint() -> None:
    raw = corpus("arf-complaint-yahoo.eml").replace(
        b"Feedback-Type: abuse", b"Feedback-Type: not-spam"
    )
    result = classify(raw, ADDRESSES)
    assert result.kind == InboundKind.UNKNOWN and "not-spam" in result.reason


def test_a_forwarded_report_is_read_not_taken_for_a_loop() -> None:
    inner = corpus("postfix-user-unknown.eml")
    raw = (
        b"From: Helpdesk <it@example.org>\nTo: news-bounces@example.org\nSubject: Fwd: bounce\n"
        b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="fwd"\n\n--fwd\n'
        b"Content-Type: text/plain\n\nSee below.\n--fwd\nContent-Type: message/rfc822\n\n"
        + inner
        + b"\n--fwd--\n"
    )
    result = classify(raw, ADDRESSES)
    assert result.kind == InboundKind.HARD_BOUNCE
    assert result.failures[0].recipient == "ann.archer@example.com"

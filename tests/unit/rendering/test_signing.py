"""DKIM signing when a key is configured: the signature verifies and covers the list headers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dkim
import pytest

from newsletter.config import ConfigError
from newsletter.rendering import prepare_alert, prepare_confirm
from newsletter.rendering.samples import sample_articles
from tests.support.dkim_keys import ANN, configure
from tests.support.rendering import parse


def signed_alert(
    monkeypatch: pytest.MonkeyPatch, key_pair: tuple[Path, bytes]
) -> tuple[bytes, Callable[..., bytes | None]]:
    """An alert signed with the key, and a DNS lookup that publishes the key."""
    private, txt_record = key_pair
    configure(monkeypatch, private, "news2026")

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return txt_record if name == b"news2026._domainkey.mail.localhost." else None

    return prepare_alert(sample_articles()[0], send_id=41).personalise(ANN).data, dns


def test_signed_messages_verify_and_cover_the_unsubscribe_headers(
    monkeypatch: pytest.MonkeyPatch, key_pair: tuple[Path, bytes]
) -> None:
    data, dns = signed_alert(monkeypatch, key_pair)

    assert data.startswith(b"DKIM-Signature: ")
    assert dkim.verify(data, dnsfunc=dns)
    signed = parse(data)["DKIM-Signature"]
    tags = dict(t.strip().split("=", 1) for t in str(signed).split(";"))
    assert tags["d"] == "mail.localhost" and tags["s"] == "news2026"
    headers = tags["h"].replace(" ", "").split(":")
    assert {"from", "to", "subject", "list-unsubscribe", "list-unsubscribe-post"} <= set(headers)
    # A changed header no longer verifies.
    assert not dkim.verify(data.replace(b"Subject: Breaking", b"Subject: Broken"), dnsfunc=dns)


def test_without_a_key_nothing_is_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, None, None)
    data = prepare_confirm(topics={}).personalise(ANN).data
    assert b"DKIM-Signature" not in data


def test_a_half_configured_key_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    configure(monkeypatch, tmp_path / "dkim.pem", None)
    with pytest.raises(ConfigError, match="NEWSLETTER_DKIM_SELECTOR must be set too"):
        prepare_confirm(topics={})


def test_an_unreadable_key_fails_before_any_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    not_a_key = tmp_path / "dkim.pem"
    not_a_key.write_text("hello")
    configure(monkeypatch, not_a_key, "news2026")
    with pytest.raises(ConfigError, match="NEWSLETTER_DKIM_PRIVATE_KEY_PATH: .* not a PEM"):
        prepare_confirm(topics={})
    configure(monkeypatch, tmp_path / "missing.pem", "news2026")
    with pytest.raises(ConfigError, match="cannot read"):
        prepare_confirm(topics={})


def test_relaxed_and_over_signed_so_an_added_header_breaks_the_signature(
    monkeypatch: pytest.MonkeyPatch, key_pair: tuple[Path, bytes]
) -> None:
    data, dns = signed_alert(monkeypatch, key_pair)

    tags = dict(t.strip().split("=", 1) for t in str(parse(data)["DKIM-Signature"]).split(";"))
    assert tags["c"] == "relaxed/relaxed"
    signed = tags["h"].replace(" ", "").split(":")
    for name in ("from", "to", "subject", "date", "reply-to", "list-unsubscribe",
                 "list-unsubscribe-post"):  # fmt: skip
        assert signed.count(name) == 2, name  # once more than the message has it
    head, body = data.split(b"\r\n\r\n", 1)
    assert dkim.verify(
        head.replace(b"\r\nSubject:", b"\r\nSubject:  ") + b"\r\n\r\n" + body, dnsfunc=dns
    )
    for added in (b"Reply-To: attacker@example.net\r\n", b"Subject: Act now\r\n"):
        assert not dkim.verify(head + b"\r\n" + added + b"\r\n" + body, dnsfunc=dns)

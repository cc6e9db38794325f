"""VERP return paths: a signed token naming send and member, read back, forgeries refused."""

from __future__ import annotations

import pytest

from newsletter.inbound.verp import Addresses, BadToken

ADDRESSES = Addresses("news-bounces", "example.org", "unsubscribe", b"k" * 32)


def test_a_return_path_names_its_send_and_member() -> None:
    path = ADDRESSES.return_path(4321, 98765)
    local, _, domain = path.partition("@")
    assert domain == "example.org" and local.startswith("news-bounces+")
    assert len(local) <= 64  # RFC 5321's limit for a local part
    role, token = ADDRESSES.role_of(path)
    assert role == "bounce"
    assert ADDRESSES.read_token(token) == (4321, 98765)


def test_the_token_survives_a_mail_system_that_changes_case() -> None:
    token = ADDRESSES.token(7, 8)
    assert token == token.lower()
    assert ADDRESSES.read_token(token.upper()) == (7, 8)


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.replace(t.split("-")[1], format(int(t.split("-")[1], 16) + 1, "x"), 1),
        lambda t: t[:-1] + ("a" if t[-1] != "a" else "b"),
        lambda t: t[:-4],
        lambda t: "",
        lambda t: "1-2-" + "a" * 16,
    ],
)
def test_an_altered_token_is_refused(change) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadToken):
        ADDRESSES.read_token(change(ADDRESSES.token(5, 6)))


def test_another_key_does_not_read_our_tokens() -> None:
    other = Addresses("news-bounces", "example.org", "unsubscribe", b"x" * 32)
    with pytest.raises(BadToken):
        other.read_token(ADDRESSES.token(5, 6))


def test_only_our_own_addresses_have_a_role() -> None:
    assert ADDRESSES.role_of("News-Bounces@Example.org") == ("bounce", "")
    assert ADDRESSES.role_of("unsubscribe@example.org") == ("unsubscribe", "")
    assert ADDRESSES.role_of("<unsubscribe+abc@example.org>") == ("unsubscribe", "abc")
    assert ADDRESSES.role_of("news-bounces@example.net") == ("", "")
    assert ADDRESSES.role_of("someone@example.org") == ("", "")
    assert ADDRESSES.role_of("not an address") == ("", "")

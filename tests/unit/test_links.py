"""Signed manage, unsubscribe and confirm links: they name their member and nothing else does."""

from __future__ import annotations

import string
import time
from collections.abc import Callable

import pytest

from newsletter import links
from newsletter.config import get_settings
from newsletter.links import BadLink

Maker = Callable[[], str]
Reader = Callable[[str], tuple[int, ...]]
ALPHABET = string.ascii_letters + string.digits + "-_."


def alterations(token: str) -> list[str]:
    """Every token that differs from this one in exactly one character."""
    return [
        token[:i] + c + token[i + 1 :] for i in range(len(token)) for c in ALPHABET if c != token[i]
    ]


PURPOSES = [
    (lambda: links.manage_token(12, 3), links.read_manage_token),
    (lambda: links.unsubscribe_token(12, 41, 3), links.read_unsubscribe_token),
    (lambda: links.confirm_token(12, 3), links.read_confirm_token),
    (
        lambda: links.acknowledge_url(12, 41, 3).rpartition("/")[2],
        lambda token: links.read_acknowledge_token(token, 86400),
    ),
]


def token_of(url: str) -> str:
    return url.rpartition("/")[2]


def test_links_carry_their_member_and_read_back() -> None:
    base = get_settings().BASE_URL
    manage = links.manage_url(12, 3)
    unsubscribe = links.unsubscribe_url(12, 41, 3)
    confirm = links.confirm_url(12, 3)

    assert manage.startswith(f"{base}/manage/")
    assert unsubscribe.startswith(f"{base}/unsubscribe/")
    assert confirm.startswith(f"{base}/confirm/")
    assert links.read_manage_token(token_of(manage)) == (12, 3)
    assert links.read_unsubscribe_token(token_of(unsubscribe)) == (12, 41, 3)
    assert links.read_confirm_token(token_of(confirm)) == (12, 3)


def test_ids_are_not_in_the_link_as_plain_numbers() -> None:
    token = token_of(links.unsubscribe_url(123456, 654321, 1))
    assert "123456" not in token and "654321" not in token


def test_each_member_and_send_gets_a_different_token() -> None:
    tokens = {links.unsubscribe_token(m, s, 1) for m in (1, 2) for s in (1, 2)}
    assert len(tokens) == 4


@pytest.mark.parametrize(("make", "read"), PURPOSES)
def test_a_token_altered_by_any_one_character_is_refused(make: Maker, read: Reader) -> None:
    for altered in alterations(make()):
        with pytest.raises(BadLink):
            read(altered)


@pytest.mark.parametrize(("make", "read"), PURPOSES)
def test_a_truncated_or_lengthened_token_is_refused(make: Maker, read: Reader) -> None:
    whole = make()
    for cut in range(len(whole)):
        with pytest.raises(BadLink):
            read(whole[:cut])
    with pytest.raises(BadLink):
        read(whole + "A")


def test_a_token_for_one_purpose_is_refused_for_another() -> None:
    manage = links.manage_token(12, 3)
    unsubscribe = links.unsubscribe_token(12, 41, 3)
    confirm = links.confirm_token(12, 3)
    wrong_readers: list[tuple[str, list[Reader]]] = [
        (manage, [links.read_unsubscribe_token, links.read_confirm_token]),
        (unsubscribe, [links.read_manage_token, links.read_confirm_token]),
        (confirm, [links.read_manage_token, links.read_unsubscribe_token]),
    ]
    for token, readers in wrong_readers:
        for read in readers:
            with pytest.raises(BadLink):
                read(token)


def test_a_token_signed_with_another_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "one key that is long enough to be a key")
    get_settings.cache_clear()
    token = links.manage_token(12, 3)
    assert links.read_manage_token(token) == (12, 3)

    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "another key that is long enough as well")
    get_settings.cache_clear()
    with pytest.raises(BadLink, match="not valid"):
        links.read_manage_token(token)


def test_a_confirm_link_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = links.confirm_token(12, 3)
    eight_days_later = time.time() + 8 * 86400
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: eight_days_later)

    with pytest.raises(BadLink, match="expired") as caught:
        links.read_confirm_token(token)
    assert caught.value.expired
    assert links.read_confirm_token(token, max_age_seconds=9 * 86400) == (12, 3)

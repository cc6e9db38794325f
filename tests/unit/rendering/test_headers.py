"""Headers built from settings and data: encoded-words that fit their lines, Reply-To."""

from __future__ import annotations

from email.header import decode_header, make_header

import pytest

from newsletter.config import ConfigError, get_settings
from newsletter.rendering import Recipient, prepare_alert
from newsletter.rendering.headers import unstructured_line
from newsletter.rendering.samples import sample_articles
from tests.support.rendering import parse

ANN = Recipient(member_id=12, email="ann@example.com", name="Ann Archer", token_version=3)


@pytest.mark.parametrize(
    "subject",
    [
        "Réunion des SENCOs : inscrivez-vous avant le 18 décembre pour la formation",
        "Łódź" * 40,
        "Ein Gruß " + "ü" * 30,
    ],
)
def test_every_encoded_word_line_fits_76_characters_the_first_too(subject: str) -> None:
    line = unstructured_line("Subject", subject).decode("ascii")
    lines = line.removesuffix("\r\n").split("\r\n")
    assert all(len(each) <= 76 for each in lines), [len(each) for each in lines]
    value = line.removeprefix("Subject: ").replace("\r\n ", " ")
    assert str(make_header(decode_header(value))) == subject


def test_reply_to_is_set_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_REPLY_TO", "Member services <help@localhost>")
    get_settings.cache_clear()
    message = parse(prepare_alert(sample_articles()[0], send_id=3).personalise(ANN).data)
    assert str(message["Reply-To"]) == "Member services <help@localhost>"


def test_no_reply_to_unless_configured() -> None:
    message = parse(prepare_alert(sample_articles()[0], send_id=3).personalise(ANN).data)
    assert message["Reply-To"] is None


def test_a_bad_reply_to_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_REPLY_TO", "not an address")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="NEWSLETTER_REPLY_TO 'not an address'"):
        prepare_alert(sample_articles()[0], send_id=3)

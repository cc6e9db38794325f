"""`newsletter dkim-record` prints the TXT record that verifies our signatures."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import dkim
import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.dkim_record import txt_record
from newsletter.rendering import prepare_alert
from newsletter.rendering.samples import sample_articles
from tests.support.dkim_keys import ANN, configure


def test_the_record_is_the_public_key_openssl_derives(key_pair: tuple[Path, bytes]) -> None:
    private, openssl_record = key_pair
    record = txt_record(private.read_bytes(), "news2026", "mail.localhost")
    assert record.name == "news2026._domainkey.mail.localhost"
    assert record.value.encode() == openssl_record
    line = record.zone_line()
    assert line.startswith("news2026._domainkey.mail.localhost. 3600 IN TXT ( ")
    strings = re.findall(r'"([^"]*)"', line)
    assert len(strings) > 1 and all(len(s) <= 255 for s in strings)
    assert "".join(strings) == record.value


def test_the_command_prints_a_record_that_verifies_a_signed_email(
    monkeypatch: pytest.MonkeyPatch,
    key_pair: tuple[Path, bytes],
) -> None:
    private, _ = key_pair
    configure(monkeypatch, private, "news2026")
    result = CliRunner().invoke(app, ["dkim-record", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["name"] == "news2026._domainkey.mail.localhost" and printed["type"] == "TXT"
    data = prepare_alert(sample_articles()[0], send_id=41).personalise(ANN).data

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return printed["value"].encode() if name == b"news2026._domainkey.mail.localhost." else None

    assert dkim.verify(data, dnsfunc=dns)
    assert base64.b64decode(printed["value"].split("p=")[1])  # the key, in base64
    human = CliRunner().invoke(app, ["dkim-record"])
    assert "Value: v=DKIM1; k=rsa; p=" in human.stdout and "IN TXT" in human.stdout


def test_without_a_key_the_command_says_which_settings_to_set() -> None:
    result = CliRunner().invoke(app, ["dkim-record"])
    assert result.exit_code == 2
    assert "NEWSLETTER_DKIM_PRIVATE_KEY_PATH" in result.stderr and "Traceback" not in result.output

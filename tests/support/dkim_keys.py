"""A fresh DKIM key for the signing tests, and the settings that point the app at it."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from newsletter.rendering import Recipient

ANN = Recipient(member_id=12, email="ann@example.com", name="Ann Archer", token_version=3)


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A fresh RSA key, and the DNS TXT record that publishes its public half."""
    folder = tmp_path_factory.mktemp("dkim")
    private = folder / "dkim.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
         "-out", str(private)],
        check=True, capture_output=True,
    )  # fmt: skip
    public_der = subprocess.run(
        ["openssl", "pkey", "-in", str(private), "-pubout", "-outform", "DER"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return private, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public_der)


def configure(monkeypatch: pytest.MonkeyPatch, key: Path | None, selector: str | None) -> None:
    from newsletter.config import get_settings

    for name, value in (("DKIM_PRIVATE_KEY_PATH", key), ("DKIM_SELECTOR", selector)):
        if value is not None:
            monkeypatch.setenv(f"NEWSLETTER_{name}", str(value))
    monkeypatch.setenv("NEWSLETTER_FROM_ADDRESS", "School Leaders Network <news@mail.localhost>")
    get_settings.cache_clear()

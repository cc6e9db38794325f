"""Optional DKIM signing (dkimpy), on when a private key and a selector are configured."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter.config import ENV_PREFIX, ConfigError, Settings

# RFC 8058 asks for List-Unsubscribe and List-Unsubscribe-Post to be signed. These are named
# once more than the message has them (over-signing, RFC 6376 8.15): a second From or Subject,
# or a Reply-To added on the way, then breaks the signature instead of riding on it.
OVERSIGNED = [
    b"from",
    b"to",
    b"subject",
    b"date",
    b"reply-to",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
]
SIGNED_ONCE = [
    b"message-id",
    b"mime-version",
    b"content-type",
    b"list-id",
    b"auto-submitted",
    b"precedence",
    b"feedback-id",
]
SIGNED_HEADERS = [*OVERSIGNED, *OVERSIGNED, *SIGNED_ONCE]
# Relaxed for both: a relay that refolds a header or trims trailing space keeps it valid.
CANONICALIZE = (b"relaxed", b"relaxed")


@dataclass(frozen=True)
class DkimSigner:
    selector: str
    domain: str
    private_key: bytes

    def sign(self, message: bytes) -> bytes:
        """The message with a DKIM-Signature header in front."""
        import dkim  # dkimpy pulls in dnspython; only senders that sign pay for loading it

        signature = dkim.sign(
            message,
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self.private_key,
            include_headers=SIGNED_HEADERS,
            canonicalize=CANONICALIZE,
            linesep=b"\r\n",
        )
        return signature + message


def load_signer(settings: Settings, domain: str) -> DkimSigner | None:
    """The configured signer, None when DKIM is off; ConfigError names a half or bad setting."""
    path, selector = settings.DKIM_PRIVATE_KEY_PATH, settings.DKIM_SELECTOR
    if path is None and not selector:
        return None
    if path is None or not selector:
        missing = "DKIM_SELECTOR" if path is not None else "DKIM_PRIVATE_KEY_PATH"
        raise ConfigError(f"{ENV_PREFIX}{missing} must be set too, to sign with DKIM")
    return DkimSigner(selector=selector, domain=domain, private_key=_read_key(Path(path)))


def _read_key(path: Path) -> bytes:
    from dkim.crypto import UnparsableKeyError, parse_pem_private_key

    name = f"{ENV_PREFIX}DKIM_PRIVATE_KEY_PATH"
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {path}: {exc.strerror}") from None
    try:
        parse_pem_private_key(key)
    except (UnparsableKeyError, ValueError, IndexError) as exc:
        raise ConfigError(f"{name}: {path} is not a PEM RSA private key ({exc})") from None
    return key

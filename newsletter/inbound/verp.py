"""VERP return paths: each message's envelope sender names its delivery, signed.

`news-bounces+<token>@example.org`, where the token is `<send>-<member>-<signature>`: the
send and member ids in hexadecimal (together they name one delivery row, unique per send
and member; send 0 for a member's own emails such as confirm and welcome) and 64 bits of an
HMAC-SHA256 over them, in hexadecimal. Everything is lower case because some mail systems
fold the local part's case on the way back. The token is made on the hot path (~2,000
messages a second): one HMAC and hex() in C, no database (base32 would be pure Python and
cost ten times as much).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from email.utils import parseaddr

from newsletter.config import Settings, get_settings

SALT = b"newsletter.verp"
SIGNATURE_BYTES = 8
TOKEN = re.compile(r"^([0-9a-f]{1,12})-([0-9a-f]{1,12})-([0-9a-f]{16})$")


class BadToken(ValueError):
    """A VERP token that was altered, truncated or made with another key."""


@dataclass(frozen=True)
class Addresses:
    """The service's own inbound addresses for the current settings."""

    bounce_localpart: str
    domain: str
    unsubscribe_localpart: str
    key: bytes

    @property
    def bounce(self) -> str:
        """The plain bounce address (no token): where unattributed reports arrive."""
        return f"{self.bounce_localpart}@{self.domain}"

    @property
    def unsubscribe(self) -> str:
        return f"{self.unsubscribe_localpart}@{self.domain}"

    def return_path(self, send_id: int | None, member_id: int) -> str:
        return f"{self.bounce_localpart}+{self.token(send_id or 0, member_id)}@{self.domain}"

    def token(self, send_id: int, member_id: int) -> str:
        ids = f"{send_id:x}-{member_id:x}"
        return f"{ids}-{self._sign(ids)}"

    def _sign(self, ids: str) -> str:
        return hmac.digest(self.key, ids.encode("ascii"), "sha256")[:SIGNATURE_BYTES].hex()

    def read_token(self, token: str) -> tuple[int, int]:
        """(send id, member id) from a token; raises BadToken."""
        match = TOKEN.match(token.strip().lower())
        if match is None:
            raise BadToken("the return-path token is malformed")
        ids = f"{match.group(1)}-{match.group(2)}"
        if not hmac.compare_digest(self._sign(ids), match.group(3)):
            raise BadToken("the return-path token's signature does not match")
        return int(match.group(1), 16), int(match.group(2), 16)

    def role_of(self, address: str) -> tuple[str, str]:
        """("bounce" | "unsubscribe" | "", the +detail) for an address of ours, or ("", "")."""
        local, at, domain = parseaddr(address)[1].strip().lower().rpartition("@")
        if not at or domain != self.domain:
            return "", ""
        base, _, detail = local.partition("+")
        if base == self.bounce_localpart:
            return "bounce", detail
        if base == self.unsubscribe_localpart:
            return "unsubscribe", detail
        return "", ""


_cache: list[tuple[Settings, Addresses]] = []


def addresses(settings: Settings | None = None) -> Addresses:
    """The addresses for these settings (by default the current ones), built once."""
    settings = settings or get_settings()
    if _cache and _cache[0][0] is settings:
        return _cache[0][1]
    from newsletter.rendering.headers import parse_sender

    sender = parse_sender(settings.FROM_ADDRESS)
    from_local = sender.address.rpartition("@")[0].lower()
    made = Addresses(
        bounce_localpart=(settings.BOUNCE_LOCALPART or f"{from_local}-bounces").lower(),
        domain=(settings.BOUNCE_DOMAIN or sender.domain).lower(),
        unsubscribe_localpart=settings.UNSUBSCRIBE_LOCALPART.lower(),
        key=hashlib.sha256(SALT + settings.secret_key.encode()).digest(),
    )
    _cache[:] = [(settings, made)]
    return made

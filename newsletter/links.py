"""Signed links that identify a member (and a send) without a password and without guessable ids.

Each purpose signs with its own salt, so a manage token is never accepted as an unsubscribe
token. Tokens carry the member's token_version: callers compare it with Member.token_version,
which the web app increments to revoke every old link at once.

A token is `base64(ids).signature` (itsdangerous Signer, HMAC-SHA1 on the settings' secret key);
the confirm and change-of-address tokens also carry a timestamp so that they expire, and the
change-of-address token carries the new address (it is sent to that address only). The signer
is used directly rather than through a Serializer because a send signs two tokens per recipient
and the Serializer costs ~20 microseconds a token against ~3 for the signer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from itsdangerous import BadSignature, SignatureExpired, Signer, TimestampSigner
from itsdangerous.encoding import base64_decode, base64_encode

from newsletter.config import Settings, get_settings

MANAGE_SALT = "newsletter.link.manage"
UNSUBSCRIBE_SALT = "newsletter.link.unsubscribe"
CONFIRM_SALT = "newsletter.link.confirm"
ADDRESS_SALT = "newsletter.link.address"
CALENDAR_SALT = "newsletter.link.calendar"
ACKNOWLEDGE_SALT = "newsletter.link.acknowledge"
CONFIRM_MAX_AGE_SECONDS = 7 * 86400


class BadLink(Exception):
    """A link token that was altered, truncated, made for another purpose, or has expired."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class _Signers:
    settings: Settings
    manage: Signer
    unsubscribe: Signer
    confirm: TimestampSigner
    address: TimestampSigner
    calendar: Signer
    acknowledge: TimestampSigner


@dataclass(frozen=True)
class ConfirmLink:
    """What a confirm token says: whose, which link version, and when it was made."""

    member_id: int
    token_version: int
    issued_at: datetime


@dataclass(frozen=True)
class AddressLink:
    """What a change-of-address token says: whose, which link version, and the new address."""

    member_id: int
    token_version: int
    email: str


_cache: list[_Signers] = []


def _signers() -> _Signers:
    """Signers for the current settings, built once (reading the key may touch the disk)."""
    settings = get_settings()
    if _cache and _cache[0].settings is settings:
        return _cache[0]
    key = settings.secret_key
    signers = _Signers(
        settings=settings,
        manage=Signer(key, salt=MANAGE_SALT),
        unsubscribe=Signer(key, salt=UNSUBSCRIBE_SALT),
        confirm=TimestampSigner(key, salt=CONFIRM_SALT),
        address=TimestampSigner(key, salt=ADDRESS_SALT),
        calendar=Signer(key, salt=CALENDAR_SALT),
        acknowledge=TimestampSigner(key, salt=ACKNOWLEDGE_SALT),
    )
    _cache[:] = [signers]
    return signers


def _encode(*numbers: int) -> bytes:
    return base64_encode(".".join(str(int(n)) for n in numbers))


def _decode(payload: bytes, count: int) -> tuple[int, ...]:
    # The payload is covered by the signature, so only a token of ours can get here.
    numbers = tuple(int(part) for part in base64_decode(payload).decode("ascii").split("."))
    if len(numbers) != count:
        raise BadLink("this link is not valid")
    return numbers


def _check_canonical(token: str) -> None:
    # The base64 signature has two spare bits in its last character, so two spellings decode
    # to the same bytes; accept only the one we issue, so any altered character is refused.
    # Called after unsign succeeded, so the signature is valid base64.
    signature = token.rpartition(".")[2]
    if base64_encode(base64_decode(signature)).decode("ascii") != signature:
        raise BadLink("this link is not valid")


def _unsign(signer: Signer, token: str, count: int) -> tuple[int, ...]:
    try:
        payload = signer.unsign(token)
    except BadSignature:
        raise BadLink("this link is not valid") from None
    _check_canonical(token)
    return _decode(payload, count)


def manage_token(member_id: int, token_version: int) -> str:
    return _signers().manage.sign(_encode(member_id, token_version)).decode("ascii")


def unsubscribe_token(member_id: int, send_id: int, token_version: int) -> str:
    payload = _encode(member_id, send_id, token_version)
    return _signers().unsubscribe.sign(payload).decode("ascii")


def confirm_token(member_id: int, token_version: int) -> str:
    return _signers().confirm.sign(_encode(member_id, token_version)).decode("ascii")


def address_token(member_id: int, token_version: int, email: str) -> str:
    payload = base64_encode(f"{int(member_id)}.{int(token_version)}.{email}")
    return _signers().address.sign(payload).decode("ascii")


def manage_url(member_id: int, token_version: int) -> str:
    return f"{get_settings().BASE_URL}/manage/{manage_token(member_id, token_version)}"


def unsubscribe_url(member_id: int, send_id: int, token_version: int) -> str:
    token = unsubscribe_token(member_id, send_id, token_version)
    return f"{get_settings().BASE_URL}/unsubscribe/{token}"


def confirm_url(member_id: int, token_version: int) -> str:
    return f"{get_settings().BASE_URL}/confirm/{confirm_token(member_id, token_version)}"


def address_url(member_id: int, token_version: int, email: str) -> str:
    token = address_token(member_id, token_version, email)
    return f"{get_settings().BASE_URL}/confirm/address/{token}"


def calendar_url(member_id: int, token_version: int, calendar_version: int) -> str:
    """The member's private calendar feed; it carries its own version, so the member can
    revoke it alone, and the token_version, so revoking every link revokes it too."""
    payload = _encode(member_id, token_version, calendar_version)
    token = _signers().calendar.sign(payload).decode("ascii")
    return f"{get_settings().BASE_URL}/calendar/{token}.ics"


def read_calendar_token(token: str) -> tuple[int, int, int]:
    """(member_id, token_version, calendar_version) from a calendar token; raises BadLink."""
    member_id, version, calendar_version = _unsign(_signers().calendar, token, 3)
    return member_id, version, calendar_version


def acknowledge_url(member_id: int, send_id: int, token_version: int) -> str:
    """The "I've read this" link of an urgent notice's email (or a chase's): it leads to a
    page with a button, and it expires (settings.ACK_LINK_DAYS)."""
    payload = _encode(member_id, send_id, token_version)
    token = _signers().acknowledge.sign(payload).decode("ascii")
    return f"{get_settings().BASE_URL}/acknowledge/{token}"


def read_acknowledge_token(token: str, max_age_seconds: int) -> tuple[int, int, int]:
    """(member_id, send_id, token_version) from an acknowledge token; raises BadLink,
    expired after max_age."""
    payload, _ = _unsign_timed(_signers().acknowledge, token, max_age_seconds)
    member_id, send_id, version = _decode(payload, 3)
    return member_id, send_id, version


def read_manage_token(token: str) -> tuple[int, int]:
    """(member_id, token_version) from a manage token; raises BadLink."""
    member_id, version = _unsign(_signers().manage, token, 2)
    return member_id, version


def read_unsubscribe_token(token: str) -> tuple[int, int, int]:
    """(member_id, send_id, token_version) from an unsubscribe token; raises BadLink."""
    member_id, send_id, version = _unsign(_signers().unsubscribe, token, 3)
    return member_id, send_id, version


def read_confirm_token(
    token: str, max_age_seconds: int = CONFIRM_MAX_AGE_SECONDS
) -> tuple[int, int]:
    """(member_id, token_version) from a confirm token; raises BadLink, expired after max_age."""
    link = read_confirm_link(token, max_age_seconds)
    return link.member_id, link.token_version


def read_confirm_link(token: str, max_age_seconds: int = CONFIRM_MAX_AGE_SECONDS) -> ConfirmLink:
    """A confirm token with the time it was made; raises BadLink, expired after max_age."""
    payload, issued_at = _unsign_timed(_signers().confirm, token, max_age_seconds)
    member_id, version = _decode(payload, 2)
    return ConfirmLink(member_id, version, issued_at)


def read_address_token(token: str, max_age_seconds: int = CONFIRM_MAX_AGE_SECONDS) -> AddressLink:
    """A change-of-address token; raises BadLink, expired after max_age."""
    payload, _ = _unsign_timed(_signers().address, token, max_age_seconds)
    member_id, version, email = base64_decode(payload).decode("utf-8").split(".", 2)
    return AddressLink(int(member_id), int(version), email)


def _unsign_timed(signer: TimestampSigner, token: str, max_age: int) -> tuple[bytes, datetime]:
    try:
        payload, issued_at = signer.unsign(token, max_age=max_age, return_timestamp=True)
    except SignatureExpired:
        raise BadLink("this link has expired", expired=True) from None
    except BadSignature:
        raise BadLink("this link is not valid") from None
    _check_canonical(token)
    return payload, issued_at.astimezone(UTC)

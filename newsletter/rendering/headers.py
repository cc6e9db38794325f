"""Header lines built from data, so that no name or title can add a header or break one.

Control characters (CR and LF among them) in a value are folded to spaces. Non-ASCII values
are RFC 2047 encoded; lines are folded to 78 characters where the value allows it.
The per-recipient lines (To, Date, Message-ID, List-Unsubscribe) are formatted here directly
rather than through the email package, which costs tens of microseconds a header and, worse,
encodes a long List-Unsubscribe URL as encoded-words that mail providers do not decode.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parseaddr

from newsletter.config import ENV_PREFIX, ConfigError
from newsletter.rendering.formatting import CONTROL, clean

ATEXT_WORDS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+")
# An RFC 2047 encoded-word may be 75 characters: "=?utf-8?b?" + 60 base64 characters + "?=".
ENCODED_WORD_BYTES = 45
ENCODED_WORD_WRAPPING = len("=?utf-8?b??=")
# RFC 2047: a line of a header holding encoded-words is at most 76 characters, the first too.
MAX_ENCODED_LINE = 76
MAX_LINE = 78
MAX_WORD = 900  # RFC 5322 allows 998 characters a line; a longer word must be encoded
FOLD = "\r\n "


class RecipientError(ValueError):
    """A recipient whose address cannot be put in a header."""


def unstructured_line(name: str, value: str) -> bytes:
    """A header line for free text (Subject): folded at spaces, or encoded-words if not ASCII."""
    value = clean(value)
    words = value.split(" ")
    if not value.isascii() or "=?" in value or max(map(len, words)) > MAX_WORD:
        return f"{name}: {FOLD.join(_encoded_words(value, len(name) + 2))}\r\n".encode("ascii")
    lines = [f"{name}:"]
    for word in words:
        if len(lines[-1]) + 1 + len(word) > MAX_LINE and lines[-1] != f"{name}:":
            lines.append("")  # the next line starts with the space the fold stands for
        lines[-1] += " " + word
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def check_address(address: str) -> str:
    """An address safe for the To header and the SMTP envelope, or RecipientError."""
    local, at, domain = address.rpartition("@")
    if (
        not at
        or not local
        or not domain
        or not address.isascii()
        or any(c in address for c in ' <>(),;:"\\[]')
        or CONTROL.search(address)
    ):
        raise RecipientError(f"cannot send to {address!r}: not a plain ASCII email address")
    return address


def _encoded_words(text: str, first_column: int = 1) -> list[str]:
    """Encoded-words of whole characters; the first fits a line after `first_column`
    characters ("Subject: "), each later one a folded line of its own."""
    room = (MAX_ENCODED_LINE - first_column - ENCODED_WORD_WRAPPING) // 4 * 3
    words: list[bytes] = []
    chunk = b""
    for char in text:
        data = char.encode("utf-8")
        if len(chunk) + len(data) > (room if not words else ENCODED_WORD_BYTES) and chunk:
            words.append(chunk)
            chunk = b""
        chunk += data
    words.append(chunk)
    return [f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words]


def display_name(name: str) -> str:
    """A display name on one line: bare words, a quoted string, or encoded-words."""
    if ATEXT_WORDS.fullmatch(name) and "=?" not in name:
        return name
    if name.isascii() and "=?" not in name:
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return " ".join(_encoded_words(name))


def address_line(header: str, name: str, address: str) -> bytes:
    """`To: Ann Archer <ann@example.com>`, with the name quoted or encoded as needed."""
    name = clean(name)
    if not name:
        return f"{header}: {address}\r\n".encode("ascii")
    line = f"{header}: {display_name(name)} <{address}>"
    if len(line) > MAX_LINE or (not name.isascii() and len(line) > MAX_ENCODED_LINE):
        # Encoded-words can be folded between lines where a quoted string cannot.
        words = _encoded_words(name, len(header) + 2)
        line = f"{header}: " + FOLD.join([*words, f"<{address}>"])
    return f"{line}\r\n".encode("ascii")


def reply_to_line(value: str) -> bytes:
    """The Reply-To header of NEWSLETTER_REPLY_TO ("Name <address>" or an address)."""
    name, address = parseaddr(value)
    try:
        check_address(address)
    except RecipientError:
        raise ConfigError(
            f"{ENV_PREFIX}REPLY_TO {value!r} must be like 'Name <replies@example.org>'"
        ) from None
    return address_line("Reply-To", name, address)


def list_unsubscribe_line(url: str, mailto: str) -> bytes:
    # Each URI on a line of its own: URIs are never encoded or split, or providers ignore them.
    return f"List-Unsubscribe: <{url}>,\r\n <{mailto}>\r\n".encode("ascii")


def feedback_id_line(kind: str, send_id: int | None, domain: str) -> bytes:
    """Feedback-ID (Gmail's Feedback Loop): campaign type, send and sender, so complaint
    rates are reported per kind of email and per send."""
    return f"Feedback-ID: {kind}:{send_id or 0}:{domain}\r\n".encode("ascii")


def date_line() -> bytes:
    return f"Date: {format_datetime(datetime.now(UTC))}\r\n".encode("ascii")


def new_message_id(domain: str) -> str:
    return f"<{secrets.token_hex(16)}@{domain}>"


@dataclass(frozen=True)
class Sender:
    name: str
    address: str
    domain: str


def parse_sender(from_address: str) -> Sender:
    """The configured From address in parts; ConfigError when it is not a usable address."""
    name, address = parseaddr(from_address)
    try:
        check_address(address)
    except RecipientError:
        raise ConfigError(
            f"{ENV_PREFIX}FROM_ADDRESS {from_address!r} must be like 'Name <news@example.org>'"
        ) from None
    return Sender(clean(name), address, address.rpartition("@")[2].lower())

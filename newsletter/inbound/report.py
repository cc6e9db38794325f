"""Reading the parts of a message that came back: RFC 3464 delivery-status fields, RFC 5965
feedback-report fields, the original message it returns, its readable text.

Pure functions over the stdlib's compat32 `Message` (what flufl.bounce reads too). Nothing
here raises on a malformed message: a part that cannot be read is treated as absent.
"""

from __future__ import annotations

import email
import email.errors
import email.header
import html as html_module
import re
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import HeaderParser

TEXT_LIMIT = 20_000  # characters of readable text looked at; the diagnostic is near the top


def parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=policy.compat32)


def header(message: Message | None, name: str) -> str:
    """A header's value, decoded (RFC 2047) and on one line; "" when absent or unreadable."""
    if message is None:
        return ""
    try:
        value = message.get(name)
        if value is None:
            return ""
        parts = email.header.decode_header(str(value))
        text = "".join(
            part.decode(charset or "ascii", "replace") if isinstance(part, bytes) else part
            for part, charset in parts
        )
    except (LookupError, ValueError, TypeError, email.errors.HeaderParseError):
        text = str(message.get(name, ""))
    return " ".join(text.split())


def all_headers(message: Message, name: str) -> list[str]:
    try:
        return [" ".join(str(v).split()) for v in message.get_all(name) or []]
    except (TypeError, ValueError):
        return []


def parts(message: Message) -> list[Message]:
    try:
        return list(message.walk())
    except (TypeError, AttributeError, RecursionError):
        return [message]


def children(message: Message) -> list[Message]:
    """A multipart's direct parts (none for anything else)."""
    payload = message.get_payload() if message.is_multipart() else None
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def content_type(message: Message) -> str:
    try:
        return message.get_content_type()
    except (TypeError, ValueError, AttributeError):
        return "text/plain"


def payload_text(part: Message, limit: int = TEXT_LIMIT) -> str:
    """A leaf part's content as text (transfer-decoded, charset-decoded, bounded)."""
    try:
        data = part.get_payload(decode=True)
    except (TypeError, ValueError, AssertionError, LookupError):
        data = None
    if isinstance(data, bytes):
        charset = _charset(part)
        try:
            return data[: limit * 4].decode(charset, "replace")[:limit]
        except LookupError:
            return data[: limit * 4].decode("utf-8", "replace")[:limit]
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload[:limit]
    return ""


def _charset(part: Message) -> str:
    try:
        return part.get_content_charset() or "utf-8"
    except (TypeError, ValueError, AttributeError):
        return "utf-8"


@dataclass
class StatusFields:
    """One block of a message/delivery-status part (lower-cased field names)."""

    fields: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.fields.get(name, "")

    def address(self, name: str) -> str:
        """The address of a Final-Recipient or Original-Recipient field ("rfc822; a@b")."""
        value = self.get(name)
        _, semicolon, rest = value.partition(";")
        address = (rest if semicolon else value).strip().strip("<>").strip()
        return address.lower() if "@" in address else ""


def _blocks_of(part: Message) -> list[StatusFields]:
    payload = part.get_payload()
    blocks: list[StatusFields] = []
    if isinstance(payload, list):
        for block in payload:
            if isinstance(block, Message):
                blocks.append(_fields(block.items()))
        return blocks
    text = payload_text(part)  # some MTAs send the fields as text, or transfer-encoded
    for chunk in text.replace("\r\n", "\n").split("\n\n"):
        if chunk.strip():
            blocks.append(_fields(HeaderParser(policy=policy.compat32).parsestr(chunk).items()))
    return blocks


def _fields(items: list[tuple[str, str]]) -> StatusFields:
    fields: dict[str, str] = {}
    for name, value in items:
        fields.setdefault(name.strip().lower(), " ".join(str(value).split()))
    return StatusFields(fields)


def delivery_status(message: Message) -> tuple[StatusFields, list[StatusFields]] | None:
    """(per-message fields, per-recipient fields) from the message/delivery-status parts,
    or None when there are none."""
    found = [
        p
        for p in parts(message)
        if content_type(p) in ("message/delivery-status", "message/global-delivery-status")
    ]
    if not found:
        return None
    per_message = StatusFields()
    recipients: list[StatusFields] = []
    for part in found:
        for block in _blocks_of(part):
            if block.get("final-recipient") or block.get("original-recipient"):
                recipients.append(block)
            elif not per_message.fields:
                per_message = block
    return per_message, recipients


def feedback_report(message: Message) -> StatusFields | None:
    """The fields of the message/feedback-report part (RFC 5965), or None."""
    for part in parts(message):
        if content_type(part) == "message/feedback-report":
            blocks = _blocks_of(part)
            merged: dict[str, str] = {}
            for block in blocks:
                for name, value in block.fields.items():
                    merged.setdefault(name, value)
            return StatusFields(merged)
    return None


RETURNED = ("message/rfc822", "message/global")
RETURNED_HEADERS = ("text/rfc822-headers", "message/rfc822-headers", "message/global-headers")
REPORT_PARTS = (
    "message/delivery-status",
    "message/global-delivery-status",
    "message/feedback-report",
)


def is_report(message: Message) -> bool:
    """A delivery or feedback report itself (its own parts say so, not a message inside)."""
    if content_type(message) == "multipart/report":
        return True
    return any(content_type(p) in REPORT_PARTS for p in children(message))


def returned_message(part: Message) -> Message | None:
    """The message inside a message/rfc822 part."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    text = payload_text(part, 200_000)
    return email.message_from_string(text, policy=policy.compat32) if text else None


def original(message: Message) -> Message | None:
    """The message this one returns (a message/rfc822 part, or text/rfc822-headers), or None.

    A report forwarded inside another message is looked into: its returned message counts."""
    for part in parts(message)[1:]:
        kind = content_type(part)
        if kind in RETURNED:
            returned = returned_message(part)
            if returned is not None and not is_report(returned):
                return returned
        if kind in RETURNED_HEADERS:
            return HeaderParser(policy=policy.compat32).parsestr(payload_text(part, 200_000))
    return None


def direct_returned(message: Message) -> Message | None:
    """The message returned by this report itself (not by a report inside it)."""
    for part in children(message):
        if content_type(part) in RETURNED:
            return returned_message(part)
        if content_type(part) in RETURNED_HEADERS:
            return HeaderParser(policy=policy.compat32).parsestr(payload_text(part, 200_000))
    return None


def readable_text(message: Message, limit: int = TEXT_LIMIT) -> str:
    """The first human-readable text: the text/plain part before any returned message (or the
    HTML one, tags dropped), where a non-standard bounce says what went wrong."""
    html = ""
    for part in parts(message):
        kind = content_type(part)
        if kind in ("message/rfc822", "text/rfc822-headers", "message/delivery-status"):
            break
        if kind == "text/plain":
            text = payload_text(part, limit)
            if text.strip():
                return text
        elif kind == "text/html" and not html:
            html = _strip_tags(payload_text(part, limit * 3))[:limit]
    return html


def _strip_tags(html: str) -> str:
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
    text = re.sub(r"(?s)<br\s*/?>|</p>|</div>|</tr>|</li>", "\n", text)
    text = re.sub(r"(?s)<[^>]+>", " ", text)
    return html_module.unescape(text)


def full_text(message: Message, limit: int = TEXT_LIMIT * 3) -> str:
    """Every text part (and every returned message's headers), joined, bounded."""
    pieces: list[str] = []
    size = 0
    for part in parts(message):
        if part.is_multipart():
            continue
        kind = content_type(part)
        if kind.startswith("text/") or kind.startswith("message/"):
            text = payload_text(part, limit - size)
            pieces.append(text)
            size += len(text)
            if size >= limit:
                break
    return "\n".join(pieces)

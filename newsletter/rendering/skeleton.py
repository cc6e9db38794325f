"""The MIME body built once per rendering, with holes where each member's values go.

Both parts are quoted-printable. Literal text is encoded once; at each hole the skeleton has a
soft line break, and a member's value is encoded on its own line(s) followed by another soft
break, so a value of any length keeps every line within 76 characters and a soft break never
falls inside it. Filling the holes is a join of byte strings.
"""

from __future__ import annotations

import binascii
import html
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

SOFT_BREAK = b"=\r\n"

# How a value is written into a hole: escaped for HTML or as it is for plain text.
ESCAPES: dict[str, Callable[[str], str]] = {"html": html.escape, "text": lambda value: value}


class Hole(NamedTuple):  # a tuple, so that looking one up per member hashes in C
    field: str  # a Personal field name
    part: str  # "text" or "html"


def qp(text: str) -> bytes:
    """Quoted-printable UTF-8 with CRLF line endings (binascii does the work in C)."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(normalised, istext=True).replace(b"\n", b"\r\n")


def with_soft_break(encoded: bytes) -> bytes:
    """Quoted-printable text followed by a soft line break, no line longer than 76."""
    start = encoded.rfind(b"\n") + 1
    if len(encoded) - start < 76:
        return encoded + SOFT_BREAK
    cut = start + 75
    # "=" only ever starts a three-character escape such as "=C3"; do not cut one in two.
    if encoded[cut - 1 : cut] == b"=":
        cut -= 1
    elif encoded[cut - 2 : cut - 1] == b"=":
        cut -= 2
    return encoded[:cut] + SOFT_BREAK + encoded[cut:] + SOFT_BREAK


def encode_value(value: str, part: str) -> bytes:
    """A member's value for one hole: escaped for its part, encoded, on lines of its own."""
    return with_soft_break(qp(ESCAPES[part](value)))


@dataclass(frozen=True)
class Skeleton:
    literals: tuple[bytes, ...]  # encoded text; a hole between each two
    slots: tuple[Hole, ...]  # slots[i] lies between literals[i] and literals[i + 1]

    @property
    def holes(self) -> frozenset[Hole]:
        return frozenset(self.slots)

    def fill(self, values: Mapping[Hole, bytes]) -> bytes:
        pieces = [b""] * (2 * len(self.slots) + 1)
        pieces[::2] = self.literals
        pieces[1::2] = [values[hole] for hole in self.slots]
        return b"".join(pieces)


def _part_pieces(split_text: list[str], part: str) -> list[bytes | Hole]:
    # split_text alternates literal text and field names: [text, field, text, ...].
    pieces: list[bytes | Hole] = []
    last = len(split_text) - 1
    for index, item in enumerate(split_text):
        if index % 2:
            pieces.append(Hole(item, part))
            continue
        encoded = qp(item)
        # Before a hole, end on a line boundary so that the value starts a line of its own.
        if index < last and encoded and not encoded.endswith(b"\r\n"):
            encoded = with_soft_break(encoded)
        pieces.append(encoded)
    return pieces


def new_boundary() -> str:
    # "=_" can never occur in quoted-printable text, so the boundary cannot clash with a part.
    return f"=_{secrets.token_hex(16)}"


@dataclass(frozen=True)
class Attachment:
    """A file every recipient gets the same (a deadline's .ics), encoded once in the skeleton."""

    filename: str  # plain ASCII, as we name it
    content_type: str  # "text/calendar; charset=utf-8; method=PUBLISH"
    data: bytes


def content_type_line(boundary: str, attachments: tuple[Attachment, ...]) -> bytes:
    """The message's Content-Type: multipart/mixed around the alternative when it has files."""
    subtype = "mixed" if attachments else "alternative"
    return f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n'.encode("ascii")


def build_body(
    text: list[str],
    html_text: list[str],
    boundary: str,
    attachments: tuple[Attachment, ...] = (),
) -> Skeleton:
    """The body of a multipart/alternative message: text first, then HTML, both UTF-8; with
    attachments, that is the first part of a multipart/mixed body (of `boundary`), the files
    after it."""
    if not attachments:
        return _alternative(text, html_text, boundary)
    inner = new_boundary()
    alternative = _alternative(text, html_text, inner)
    opening = (
        b"This is a multi-part message in MIME format.\r\n"
        + f"\r\n--{boundary}\r\n".encode("ascii")
        + content_type_line(inner, ())
        + b"\r\n"
    )
    closing = b"".join(_attachment_part(a, boundary) for a in attachments)
    closing += f"\r\n--{boundary}--\r\n".encode("ascii")
    literals = list(alternative.literals)
    literals[0] = opening + literals[0]
    literals[-1] += closing
    return Skeleton(tuple(literals), alternative.slots)


def _attachment_part(attachment: Attachment, boundary: str) -> bytes:
    encoded = binascii.b2a_base64(attachment.data, newline=False)
    lines = b"\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    return (
        f"\r\n--{boundary}\r\n"
        f'Content-Type: {attachment.content_type}; name="{attachment.filename}"\r\n'
        f'Content-Disposition: attachment; filename="{attachment.filename}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode("ascii") + lines


def _alternative(text: list[str], html_text: list[str], boundary: str) -> Skeleton:
    delimiter = f"\r\n--{boundary}\r\n".encode("ascii")

    def headers(subtype: str) -> bytes:
        return (
            f"Content-Type: text/{subtype}; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode("ascii")

    pieces: list[bytes | Hole] = [
        b"This is a multi-part message in MIME format.\r\n",
        delimiter,
        headers("plain"),
        *_part_pieces(text, "text"),
        delimiter,
        headers("html"),
        *_part_pieces(html_text, "html"),
        f"\r\n--{boundary}--\r\n".encode("ascii"),
    ]
    literals, slots = [b""], []
    for piece in pieces:
        if isinstance(piece, Hole):
            slots.append(piece)
            literals.append(b"")
        else:
            literals[-1] += piece
    return Skeleton(tuple(literals), tuple(slots))

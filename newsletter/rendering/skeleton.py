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


def build_body(text: list[str], html_text: list[str], boundary: str) -> Skeleton:
    """The body of a multipart/alternative message: text first, then HTML, both UTF-8."""
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

"""Text files that say their encoding with a byte-order mark (Excel and Notepad write UTF-16)."""

from __future__ import annotations

import codecs

# UTF-32's marks begin with UTF-16's, so they are tried first.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_marked(data: bytes) -> str | None:
    """The text of a UTF-16 or UTF-32 file that starts with its byte-order mark; None for any
    other file. Raises UnicodeDecodeError when the rest does not match the mark."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec)
    return None

"""Reading article files: folders expanded, sizes, binary files and text encodings checked."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from newsletter.encodings import decode_marked

MAX_MB = 5
MAX_BYTES = MAX_MB * 1024 * 1024
# A text file has almost no control characters besides tab, newline, carriage return, form feed.
_TEXT_CONTROLS = {9, 10, 12, 13}
_MAX_CONTROL_SHARE = 0.01


class ArticleFileError(ValueError):
    pass


@dataclass(frozen=True)
class SourceFile:
    path: Path
    text: str
    notes: tuple[str, ...] = ()  # things worth saying that did not stop the import


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, folders as their files (sorted, hidden ones skipped), each once."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file()
                    and not any(part.startswith(".") for part in p.relative_to(path).parts)
                )
            )
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def read_source(path: Path) -> SourceFile:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ArticleFileError(
                f"the file is {size / 1024 / 1024:.1f} MB; the limit is {MAX_MB} MB"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArticleFileError("no such file") from None
    except IsADirectoryError:
        raise ArticleFileError("is a folder") from None
    except PermissionError:
        raise ArticleFileError("permission denied") from None
    text, notes = decode(data)
    return SourceFile(path, text, notes)


def decode(data: bytes) -> tuple[str, tuple[str, ...]]:
    """UTF-8 text, UTF-16 with its byte-order mark, or Windows-1252 said out loud; empty and
    binary files are refused."""
    try:
        marked = decode_marked(data)
    except UnicodeDecodeError as exc:
        raise ArticleFileError(f"not text: starts like UTF-16 but {exc.reason}") from None
    if marked is not None:
        return _checked(marked), ()
    if not data.strip():
        raise ArticleFileError("the file is empty")
    if b"\x00" in data:
        raise ArticleFileError("a binary file, not text")
    notes: tuple[str, ...] = ()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise ArticleFileError(
                f"not text: neither UTF-8 nor Windows-1252 (bad byte at offset {exc.start})"
            ) from None
        notes = (f"not UTF-8 (byte {exc.start}); read as Windows-1252 (cp1252)",)
    return _checked(text), notes


def _checked(text: str) -> str:
    if not text.lstrip("\ufeff").strip():
        raise ArticleFileError("the file is empty")
    controls = sum(1 for ch in text if ord(ch) < 32 and ord(ch) not in _TEXT_CONTROLS)
    if controls > max(1, len(text) * _MAX_CONTROL_SHARE):
        raise ArticleFileError("a binary file, not text")
    return text

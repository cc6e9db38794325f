"""Messages from files, for replays and tests: `.eml` files, maildirs and mbox files."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path


class NotAMessageSource(ValueError):
    """A path that is neither a message file, a maildir, an mbox nor a folder of messages."""


def messages_in(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, raw bytes) of every message under `path`, in a stable order."""
    if not path.exists():
        raise NotAMessageSource(f"{path}: no such file or folder")
    if path.is_dir():
        if all((path / sub).is_dir() for sub in ("cur", "new", "tmp")):
            yield from _maildir(path)
            return
        for child in sorted(
            p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
        ):
            yield from _file(child)
        return
    yield from _file(path)


def _file(path: Path) -> Iterator[tuple[str, bytes]]:
    with open(path, "rb") as handle:
        start = handle.read(5)
    if start == b"From ":
        yield from _mbox(path)
    else:
        yield str(path), path.read_bytes()


def _maildir(path: Path) -> Iterator[tuple[str, bytes]]:
    box = mailbox.Maildir(path, factory=None, create=False)
    for key in sorted(box.keys()):
        yield f"{path}/{key}", box.get_bytes(key)


def _mbox(path: Path) -> Iterator[tuple[str, bytes]]:
    box = mailbox.mbox(path, factory=None, create=False)
    try:
        for number, key in enumerate(box.keys(), start=1):
            # mbox stores LF line endings; the parser reads either.
            yield f"{path}#{number}", box.get_bytes(key)
    finally:
        box.close()

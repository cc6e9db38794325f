"""A folder of small JSON records, each on disk (fsynced) before `put` returns.

Used to keep a member's request while the database cannot take it (newsletter.member_requests).
A record is written to a temporary name, flushed to disk and renamed into place, and the
folder itself is synced, so after `put` returns the record survives a crash or a power cut and
is never seen half-written. Records come back oldest first, all of them or those of one tag
(a member, say); one process at a time drains the folder (an exclusive lock on a file beside
it), so a record is never applied by two at once.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUFFIX = ".json"


class Spool:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def put(self, record: dict[str, Any], tag: str = "") -> Path:
        """Write `record` durably, under `tag` (letters, digits); returns its file."""
        if not tag.isalnum() and tag:
            raise ValueError(f"a tag is letters and digits, not {tag!r}")
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{tag}-{secrets.token_hex(4)}"
        temporary = self.folder / f".{name}.tmp"
        final = self.folder / f"{name}{SUFFIX}"
        with open(temporary, "wb") as out:
            out.write(json.dumps(record).encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, final)
        self._sync_folder()
        return final

    def is_empty(self, tag: str | None = None) -> bool:
        return not self.folder.is_dir() or not any(self.folder.glob(self._pattern(tag)))

    def records(self, tag: str | None = None) -> Iterator[tuple[Path, dict[str, Any]]]:
        """(file, record), oldest first, of one tag or all; a file that cannot be read is
        moved aside."""
        for path in sorted(self.folder.glob(self._pattern(tag))):
            try:
                record = json.loads(path.read_bytes())
            except (OSError, ValueError) as exc:
                self._set_aside(path, exc)
                continue
            if isinstance(record, dict):
                yield path, record
            else:
                self._set_aside(path, TypeError("not a JSON object"))

    @staticmethod
    def tag_of(path: Path) -> str:
        return path.name.split("-")[1] if path.name.count("-") >= 2 else ""

    @staticmethod
    def _pattern(tag: str | None) -> str:
        return f"*{SUFFIX}" if tag is None else f"*-{tag}-*{SUFFIX}"

    def done(self, path: Path) -> None:
        """The record is applied: forget it."""
        path.unlink(missing_ok=True)
        self._sync_folder()

    @contextmanager
    def draining(self) -> Iterator[bool]:
        """True for the one process that may drain now; False for any other meanwhile."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder.with_suffix(".lock"), "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _set_aside(self, path: Path, problem: Exception) -> None:
        aside = self.folder / "unreadable"
        aside.mkdir(exist_ok=True)
        log.error("spooled request %s cannot be read (%s); moved to %s", path, problem, aside)
        os.replace(path, aside / path.name)

    def _sync_folder(self) -> None:
        descriptor = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

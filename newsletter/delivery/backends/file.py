"""A backend that writes each message as an .eml file, plus an index.html to browse them."""

from __future__ import annotations

import fcntl
import hashlib
import html
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from newsletter.config import Settings
from newsletter.delivery.backends.base import SENT_LOCALLY, BackendUnavailable, Outcome, SendResult

if TYPE_CHECKING:
    from newsletter.rendering import OutgoingMessage

log = logging.getLogger(__name__)

INDEX_NAME = "index.html"
_LOCK_NAME = ".index.lock"
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")
_MAX_STEM = 150


def eml_name(message_id: str) -> str:
    """A file name made from a Message-ID: safe characters only, never hidden, bounded."""
    stem = _UNSAFE.sub("_", message_id.strip().strip("<>")).strip("._") or "message"
    if len(stem) > _MAX_STEM:
        digest = hashlib.sha256(message_id.encode()).hexdigest()[:16]
        stem = f"{stem[:_MAX_STEM]}-{digest}"
    return f"{stem}.eml"


@dataclass(frozen=True)
class IndexEntry:
    file_name: str
    date: datetime
    to: str
    subject: str


def read_entry(path: Path) -> IndexEntry:
    data = path.read_bytes()
    headers = BytesHeaderParser(policy=policy.default).parsebytes(data)
    try:
        date = parsedate_to_datetime(str(headers["Date"]))
    except (TypeError, ValueError):
        date = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    return IndexEntry(path.name, date, str(headers.get("To", "")), str(headers.get("Subject", "")))


def _row(entry: IndexEntry) -> str:
    subject = html.escape(entry.subject) or "(no subject)"
    return (
        f"<tr><td>{html.escape(entry.date.isoformat(' ', 'seconds'))}</td>"
        f"<td>{html.escape(entry.to)}</td>"
        f'<td><a href="{html.escape(quote(entry.file_name, safe="@+"))}">{subject}</a></td></tr>'
    )


def render_index(entries: Iterable[IndexEntry]) -> str:
    """The index page, newest first; every value taken from a message is escaped."""
    newest_first = sorted(entries, key=lambda e: (e.date, e.file_name), reverse=True)
    rows = "\n".join(_row(entry) for entry in newest_first)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Outbox</title>'
        "<style>body{font-family:sans-serif}td,th{padding:2px 12px;text-align:left}</style>"
        f"</head><body><h1>Outbox ({len(newest_first)} messages)</h1>\n<table>"
        f"<tr><th>Date</th><th>To</th><th>Subject</th></tr>\n{rows}\n</table></body></html>\n"
    )


def _write_atomically(path: Path, data: bytes) -> None:
    # Readers in other processes (the index, a test counting files) never see half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these are meant to be browsed
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _index_lock(folder: Path) -> Iterator[None]:
    # Workers in several processes may share the folder; the last index written must list all.
    with open(folder / _LOCK_NAME, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_index(folder: Path) -> None:
    with _index_lock(folder):
        entries = [read_entry(path) for path in folder.glob("*.eml")]
        _write_atomically(folder / INDEX_NAME, render_index(entries).encode())


class FileConnection:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        results = [self._write(message) for message in messages]
        if messages:
            try:
                write_index(self.folder)
            except OSError as exc:  # the .eml files are written; the index is a convenience
                log.warning("could not update %s in %s: %s", INDEX_NAME, self.folder, exc)
        return results

    def _write(self, message: OutgoingMessage) -> SendResult:
        try:
            _write_atomically(self.folder / eml_name(message.message_id), message.data)
        except OSError as exc:  # a full disk now may have room later
            return SendResult(Outcome.DEFERRED, detail=f"cannot write to {self.folder}: {exc}")
        return SENT_LOCALLY

    def close(self) -> None:
        pass


class FileBackend:
    name = "file"

    def __init__(self, settings: Settings) -> None:
        self.folder = Path(settings.EMAIL_FILE_DIR)

    def open(self) -> FileConnection:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            message = f"cannot create the outbox folder {self.folder}: {exc}"
            raise BackendUnavailable(message) from exc
        return FileConnection(self.folder)

"""CSV import and export of members: columns email,name,role,topics (funding:immediate;npq:weekly).

Validation is pure (rows in, good rows and errors out) so it is tested without a database;
the import writes all rows or none unless partial is asked for.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from newsletter import audit
from newsletter.consent import Change
from newsletter.members import (
    MemberError,
    list_members,
    normalise_email,
    parse_topic_cell,
    upsert_member,
)
from newsletter.models import ConsentSource, Frequency
from newsletter.topics import topics_by_slug

COLUMNS = ("email", "name", "role", "topics")
MAX_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class MemberRow:
    line: int
    email: str
    name: str
    role: str
    topics: dict[str, Frequency]


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    rows: list[MemberRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    written: bool = False


class CsvFormatError(ValueError):
    pass


def read_rows(text: str, known_topics: set[str]) -> tuple[list[MemberRow], list[RowError]]:
    """Validate every row; each bad one is reported with its line number and reason."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _read_rows(reader, known_topics)
    except csv.Error as exc:
        raise CsvFormatError(f"line {reader.line_num}: not valid CSV ({exc})") from None


def _read_rows(
    reader: csv.DictReader[str], known_topics: set[str]
) -> tuple[list[MemberRow], list[RowError]]:
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "email" not in header:
        raise CsvFormatError(f"the first line must name the columns {','.join(COLUMNS)}")
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise CsvFormatError(f"unknown column {unknown[0]!r} (expected {','.join(COLUMNS)})")
    reader.fieldnames = header
    rows: list[MemberRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        try:
            row = _row(line, record, known_topics)
        except MemberError as exc:
            errors.append(RowError(line, str(exc)))
            continue
        if row.email in seen:
            errors.append(RowError(line, f"duplicate of line {seen[row.email]} ({row.email})"))
            continue
        seen[row.email] = line
        rows.append(row)
    return rows, errors


def _row(line: int, record: dict[str, str | None], known_topics: set[str]) -> MemberRow:
    if None in record:
        raise MemberError("too many fields (is a comma missing its quotes?)")
    email = normalise_email(record.get("email") or "")
    topics = parse_topic_cell(record.get("topics") or "", known_topics)
    return MemberRow(
        line=line,
        email=email,
        name=(record.get("name") or "").strip(),
        role=(record.get("role") or "").strip(),
        topics=topics,
    )


def read_file(path: Path) -> str:
    if path.stat().st_size > MAX_BYTES:
        raise CsvFormatError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MB")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def import_members(
    session: Session, text: str, partial: bool = False, actor: str = ""
) -> ImportReport:
    """Validate then write; without partial, any bad row means nothing is written."""
    rows, errors = read_rows(text, set(topics_by_slug(session)))
    report = ImportReport(rows=rows, errors=errors)
    if errors and not partial:
        return report
    for row in rows:
        change = Change(ConsentSource.IMPORT, actor or audit.cli_actor())
        done = upsert_member(session, row.email, row.name, row.role, row.topics, change=change)
        report.created += done.created
        report.updated += not done.created
    report.written = True
    return report


def export_members(session: Session) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for member in list_members(session):
        topics = ";".join(f"{slug}:{freq}" for slug, freq in member["subscriptions"].items())
        writer.writerow([member["email"], member["name"], member["role"], topics])
    return out.getvalue()

"""The members CSV format: reading rows (validated, pure) and writing them, formula-safe.

Columns (any subset with `email`, in any order; the association's own file has the first four):

    email, name, role, topics           funding:immediate;npq:weekly
    status                              pending | active | paused | unsubscribed | bounced,
                                        or not-a-member for an address only on the
                                        suppression list ("complained" is read too)
    paused_until                        a time, with status paused (empty: until they resume)
    opted_out                           the whole list: "SOURCE TIME", e.g. one-click 2026-...Z
    opted_out_topics                    "funding one-click TIME; npq manage-page TIME"
    consent, consent_at                 where the member's consent comes from, and when
    suppressed, suppression_note        "REASON TIME", e.g. hard_bounce 2026-...Z

Times are ISO 8601 (UTC written with Z). A cell a spreadsheet would run as a formula (it
starts with =, +, -, @, tab or CR) is written with a leading apostrophe (the OWASP CSV
injection rule) and read back without it, so every value survives the round trip.

Validation is pure (text in, rows and errors out), so it is tested without a database.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from newsletter.consent import MEMBER_OWN_SOURCES
from newsletter.encodings import decode_marked
from newsletter.members import (
    MemberError,
    format_topic_choices,
    normalise_email,
    parse_topic_cell,
)
from newsletter.models import ConsentSource, Frequency, SuppressionReason

LEGACY_COLUMNS = ("email", "name", "role", "topics")
COLUMNS = (
    *LEGACY_COLUMNS,
    "status",
    "paused_until",
    "opted_out",
    "opted_out_topics",
    "consent",
    "consent_at",
    "suppressed",
    "suppression_note",
)
MAX_BYTES = 20 * 1024 * 1024

PAUSED = "paused"
NOT_A_MEMBER = "not-a-member"
COMPLAINED = "complained"
STATUSES = ("pending", "active", PAUSED, "unsubscribed", "bounced", COMPLAINED, NOT_A_MEMBER)
OPT_OUT_SOURCES = tuple(sorted(s.value for s in MEMBER_OWN_SOURCES))

# The OWASP CSV-injection rule: cells starting with these are formulas to a spreadsheet.
FORMULA_START = "=+-@\t\r"
_ESCAPED = re.compile(f"^'*[{re.escape(FORMULA_START)}]")


@dataclass(frozen=True)
class Stamp:
    """Something that happened at a time: an opt-out's source, a suppression's reason."""

    what: str
    at: datetime

    def __str__(self) -> str:
        return f"{self.what} {format_time(self.at)}"


@dataclass(frozen=True)
class MemberRow:
    """One address of the file. None (or "") means the column was absent or empty."""

    line: int
    email: str
    name: str | None = None
    role: str | None = None
    topics: dict[str, Frequency] | None = None
    status: str = ""
    paused_until: datetime | None = None
    opted_out: Stamp | None = None
    opted_out_topics: dict[str, Stamp] = field(default_factory=dict)
    consent: str = ""
    consent_at: datetime | None = None
    suppressed: Stamp | None = None
    suppression_note: str = ""


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class CsvFormatError(ValueError):
    pass


# --- formula-safe cells --------------------------------------------------------------------


def safe_cell(value: str) -> str:
    """The value as a spreadsheet will show, not run: an apostrophe before a formula start
    (and before apostrophes already leading one, so that reading back is exact)."""
    return f"'{value}" if _ESCAPED.match(value) else value


def read_cell(cell: str) -> str:
    """The value safe_cell wrote."""
    return cell[1:] if cell.startswith("'") and _ESCAPED.match(cell[1:]) else cell


# --- times and stamps ----------------------------------------------------------------------


def format_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(raw: str, column: str) -> datetime:
    try:
        at = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise MemberError(f"{column} {raw!r} is not a time like 2026-11-29T10:15:00Z") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _stamp(raw: str, column: str, allowed: Iterable[str]) -> Stamp:
    what, _, when = raw.strip().partition(" ")
    if what not in allowed:
        raise MemberError(f"{column} {what!r} is not one of {', '.join(allowed)}")
    if not when.strip():
        raise MemberError(f"{column} needs a time after {what!r}, like {what} 2026-11-29T10:15:00Z")
    return Stamp(what, parse_time(when, column))


def _topic_opt_outs(raw: str, known_topics: set[str]) -> dict[str, Stamp]:
    found: dict[str, Stamp] = {}
    for part in raw.split(";"):
        if not part.strip():
            continue
        slug, _, rest = part.strip().partition(" ")
        if slug not in known_topics:
            raise MemberError(f"opted_out_topics: unknown topic {slug!r}")
        if slug in found:
            raise MemberError(f"opted_out_topics: topic {slug!r} given twice")
        found[slug] = _stamp(rest, f"opted_out_topics ({slug})", OPT_OUT_SOURCES)
    return found


# --- reading -------------------------------------------------------------------------------


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
    header = [read_cell(h).strip().lower() for h in (reader.fieldnames or [])]
    if "email" not in header:
        raise CsvFormatError(f"the first line must name the columns {','.join(LEGACY_COLUMNS)}")
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
    if any("\x00" in (value or "") for value in record.values()):
        raise MemberError("a NUL character (no database stores one; is the file binary?)")
    cells = {column: read_cell(value or "") for column, value in record.items()}

    def given(column: str) -> str | None:
        return cells[column].strip() if column in cells else None

    def text(column: str) -> str:
        return (given(column) or "").strip()

    status = text("status").lower()
    if status and status not in STATUSES:
        raise MemberError(f"unknown status {status!r} (expected one of {', '.join(STATUSES)})")
    topics = given("topics")
    row = MemberRow(
        line=line,
        email=normalise_email(cells.get("email", "")),
        name=given("name"),
        role=given("role"),
        topics=None if topics is None else parse_topic_cell(topics, known_topics),
        status=status,
        paused_until=parse_time(text("paused_until"), "paused_until")
        if text("paused_until")
        else None,
        opted_out=_stamp(text("opted_out"), "opted_out", OPT_OUT_SOURCES)
        if text("opted_out")
        else None,
        opted_out_topics=_topic_opt_outs(text("opted_out_topics"), known_topics),
        consent=text("consent"),
        consent_at=parse_time(text("consent_at"), "consent_at") if text("consent_at") else None,
        suppressed=_stamp(text("suppressed"), "suppressed", [r.value for r in SuppressionReason])
        if text("suppressed")
        else None,
        suppression_note=text("suppression_note"),
    )
    _check_row(row)
    return row


def _check_row(row: MemberRow) -> None:
    """What one row can say on its own, whatever the database holds."""
    if row.name is not None and len(row.name) > 200:
        raise MemberError("name is longer than 200 characters")
    if row.role is not None and len(row.role) > 100:
        raise MemberError("role is longer than 100 characters")
    if len(row.consent) > 300:
        raise MemberError("consent is longer than 300 characters")
    if row.paused_until is not None and row.status != PAUSED:
        raise MemberError("paused_until needs status paused")
    if row.consent_at is not None and not row.consent:
        raise MemberError("consent_at needs a consent saying where it comes from")
    if row.suppression_note and row.suppressed is None:
        raise MemberError("suppression_note needs suppressed (a reason and a time)")
    if row.status == NOT_A_MEMBER:
        if row.suppressed is None:
            raise MemberError("status not-a-member is for an address on the suppression list")
        member_facts = (row.name, row.role, row.topics, row.opted_out, row.consent)
        if any(member_facts) or row.opted_out_topics:
            raise MemberError("a not-a-member row carries only the suppression")


def read_file(path: Path) -> str:
    if path.stat().st_size > MAX_BYTES:
        raise CsvFormatError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MB")
    try:
        return decode_csv(path.read_bytes())
    except CsvFormatError as exc:
        raise CsvFormatError(f"{path}: {exc}") from None


def decode_csv(data: bytes) -> str:
    """UTF-8 (with or without a byte-order mark), or UTF-16 with one as Excel saves it."""
    try:
        marked = decode_marked(data)
        return marked if marked is not None else data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


# --- writing -------------------------------------------------------------------------------


def write_rows(rows: Iterable[MemberRow]) -> str:
    """The file `read_rows` reads back to the same rows (line numbers aside)."""
    out = io.StringIO()
    # CRLF (RFC 4180): csv quotes a cell holding CR only when CR is in the line terminator.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in _cells(row)])
    return out.getvalue()


def _cells(row: MemberRow) -> list[str]:
    return [
        row.email,
        row.name or "",
        row.role or "",
        format_topic_choices(dict(sorted((row.topics or {}).items()))),
        row.status,
        format_time(row.paused_until) if row.paused_until else "",
        str(row.opted_out) if row.opted_out else "",
        "; ".join(f"{slug} {stamp}" for slug, stamp in sorted(row.opted_out_topics.items())),
        row.consent,
        format_time(row.consent_at) if row.consent_at else "",
        str(row.suppressed) if row.suppressed else "",
        row.suppression_note,
    ]


def opt_out_stamp(source: ConsentSource, at: datetime) -> Stamp:
    return Stamp(source.value, at)

"""School terms, read from an iCalendar file or a CSV, checked, and the holidays between them.

Pure: no database. A term (or half term) runs from its first to its last day, both included;
a region's school holidays are the days between one of its terms and the next. Days before its
first known term or after its last are not holidays: a calendar nobody has filled in yet pauses
nobody.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from icalendar import Calendar

REGION_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
CSV_COLUMNS = ("name", "starts", "ends")


class TermError(ValueError):
    """A calendar that cannot be used; the message names the line or event and the problem."""


@dataclass(frozen=True)
class Term:
    name: str
    starts: date
    ends: date
    where: str = ""  # "line 3", "event 2 (Autumn 1)": how an error names it


def region_key(text: str) -> str:
    """ "Northern Ireland" -> "northern-ireland"; refused unless letters, digits and hyphens."""
    key = re.sub(r"[\s_]+", "-", text.strip().lower())
    if not REGION_PATTERN.match(key):
        raise TermError(
            f"{text!r} is not a region name (letters, digits, spaces or hyphens, up to 50)"
        )
    return key


def region_label(key: str) -> str:
    return key.replace("-", " ").title()


def read_terms(name: str, data: bytes) -> list[Term]:
    """Terms from a file's bytes, by its name: .ics (iCalendar) or .csv; checked."""
    lowered = name.lower()
    if lowered.endswith((".ics", ".ical", ".ifb")):
        terms = read_ics(data)
    elif lowered.endswith(".csv"):
        terms = read_csv(data)
    else:
        raise TermError(f"{name}: give an iCalendar (.ics) or a CSV (.csv) file")
    check_terms(terms)
    return terms


def read_ics(data: bytes) -> list[Term]:
    """Each VEVENT is a term: SUMMARY its name, DTSTART its first day, DTEND the day after its
    last (iCalendar's all-day events end exclusively), or its only day when absent."""
    try:
        calendar = Calendar.from_ical(data)
    except ValueError as exc:
        raise TermError(f"not an iCalendar file: {exc}") from None
    terms = []
    for number, event in enumerate(calendar.walk("VEVENT"), start=1):
        name = str(event.get("SUMMARY", "")).strip()
        where = f"event {number}" + (f" ({name})" if name else "")
        if event.get("DTSTART") is None:
            raise TermError(f"{where}: it has no DTSTART")
        starts = _day(event.decoded("DTSTART"))
        end = event.get("DTEND")
        if end is None:
            ends = starts
        else:
            ends = _day(event.decoded("DTEND"))
            if not isinstance(event.decoded("DTEND"), datetime):
                ends -= timedelta(days=1)
        terms.append(Term(name[:200], starts, ends, where))
    if not terms:
        raise TermError("the calendar holds no events (each VEVENT is one term)")
    return terms


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def read_csv(data: bytes) -> list[Term]:
    """A header line `name,starts,ends`, then one term a line with ISO dates (2026-09-03)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TermError("the CSV is not UTF-8 text") from None
    rows = csv.reader(io.StringIO(text))
    header = [cell.strip().lower() for cell in next(rows, [])]
    if header[:3] != list(CSV_COLUMNS):
        raise TermError(f"line 1: the header must be {','.join(CSV_COLUMNS)}")
    terms = []
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 3:
            raise TermError(f"line {line}: give a name, a first day and a last day")
        name, starts, ends = (cell.strip() for cell in row[:3])
        where = f"line {line}"
        terms.append(Term(name[:200], _iso(starts, where), _iso(ends, where), where))
    if not terms:
        raise TermError("the CSV holds no terms")
    return terms


def _iso(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise TermError(f"{where}: {text!r} is not a date like 2026-09-03") from None


def check_terms(terms: Sequence[Term], existing: Iterable[Term] = ()) -> None:
    """Refuse a term that ends before it starts, or that overlaps another (in the file, or
    one already kept for the region); the first problem found is named."""
    for term in terms:
        if term.ends < term.starts:
            raise TermError(f"{term.where}: it ends ({term.ends}) before it starts ({term.starts})")
    ordered = sorted([*existing, *terms], key=lambda t: (t.starts, t.ends))
    for earlier, later in zip(ordered, ordered[1:], strict=False):
        if later.starts <= earlier.ends:
            first, second = (earlier, later) if earlier.where else (later, earlier)
            other = second.where or f"{second.name or 'the term'} kept already"
            raise TermError(
                f"{first.where or first.name}: it overlaps {other} "
                f"({second.starts} to {second.ends})"
            )


def in_holiday(terms: Sequence[Term], day: date) -> bool:
    """Whether `day` falls between two of these terms (not before the first nor after the last)."""
    ordered = sorted(terms, key=lambda t: t.starts)
    if not ordered or day < ordered[0].starts or day > max(t.ends for t in ordered):
        return False
    return not any(term.starts <= day <= term.ends for term in ordered)

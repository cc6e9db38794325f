"""Words and dates the way British readers expect them: "27 March 2020", "Closes in 3 days"."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# What happens on a deadline's date, as the start of a sentence ("Closes 27 March 2020").
DEADLINE_VERBS = {
    "opens": "Opens",
    "closes": "Closes",
    "effective": "Takes effect",
    "announcement": "Announcement due",
}

FREQUENCY_PHRASES = {
    "immediate": "as soon as it is published",
    "daily": "in a daily digest",
    "weekly": "in a weekly digest",
}


def clean(value: str) -> str:
    """One line of text: control characters and runs of whitespace become one space."""
    return " ".join(CONTROL.sub(" ", value).split())


def british_date(value: date) -> str:
    """27 March 2020: no leading zero, month in words, so it cannot be misread as US order."""
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def month_year(value: date) -> str:
    return f"{MONTHS[value.month - 1]} {value.year}"


def deadline_when(value: date, precision: str) -> str:
    """ "27 March 2020", or "in March 2020" when only the month is known."""
    if precision == "month":
        return f"in {month_year(value)}"
    return british_date(value)


def deadline_verb(kind: str) -> str:
    return DEADLINE_VERBS.get(kind, kind.capitalize())


def deadline_label(kind: str, value: date, precision: str) -> str:
    return f"{deadline_verb(kind)} {deadline_when(value, precision)}"


def days_left_phrase(days_left: int) -> str:
    if days_left <= 0:
        return "today"
    if days_left == 1:
        return "tomorrow"
    return f"in {days_left} days"


def greeting(name: str) -> str:
    """The opening line; a member without a name still gets one that reads well."""
    name = clean(name)
    return f"Hello {name}," if name else "Hello,"


def frequency_phrase(frequency: str) -> str:
    return FREQUENCY_PHRASES.get(frequency, frequency)


def join_and(items: Iterable[str]) -> str:
    """ "Funding, NPQ and ITT"."""
    words = [item for item in items if item]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def plural(count: int, singular: str, plural_form: str = "") -> str:
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"

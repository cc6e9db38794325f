"""Words and dates the way British readers expect them: "27 March 2020", "Closes in 3 days"."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from datetime import date
from functools import lru_cache

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
TEXT_WIDTH = 72  # plain-text parts are wrapped here, so that quoting in a reply still fits 78
PREHEADER_CHARS = 150  # mail clients show well under this beside the subject

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
    "complete_by": "Must be done by",
}

FREQUENCY_ORDER = ("immediate", "daily", "weekly")
FREQUENCY_PHRASES = {
    "immediate": "as soon as news is published",
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


def wrap(text: str, width: int = TEXT_WIDTH) -> str:
    """Plain text wrapped at `width`; a URL or other long word is never broken."""
    return textwrap.fill(text, width, break_long_words=False, break_on_hyphens=False)


def wrap_items(items: Iterable[str], width: int = TEXT_WIDTH, separator: str = " ") -> str:
    """Items on lines of at most `width`, never broken inside one ("[Closes 27 March 2020]")."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + len(separator) + len(item) <= width:
            lines[-1] += separator + item
        else:
            lines.append(item)
    return "\n".join(lines)


def preheader(text: str, limit: int = PREHEADER_CHARS) -> str:
    """The preview text beside the subject: one line, cut at a word within `limit`."""
    text = clean(text)
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:·-") + "…"


NOT_FOLLOWING = "This copy was sent to you by staff: a member sees here the topics they follow."


@lru_cache(maxsize=256)
def follows_sentence(follows: tuple[tuple[str, str], ...] | None) -> str:
    """ "You follow ITT as soon as news is published; Funding and NPQ in a weekly digest.",
    wrapped for a plain-text line of its own. `follows` is (topic name, frequency) pairs."""
    if not follows:
        return wrap(NOT_FOLLOWING)
    by_frequency: dict[str, list[str]] = {}
    for name, frequency in sorted(follows, key=_frequency_rank):
        by_frequency.setdefault(frequency, []).append(name)
    groups = [
        f"{join_and(names)} {frequency_phrase(frequency)}"
        for frequency, names in by_frequency.items()
    ]
    return wrap(f"You follow {'; '.join(groups)}.")


def _frequency_rank(pair: Sequence[str]) -> tuple[int, str]:
    name, frequency = pair
    known = frequency in FREQUENCY_ORDER
    return (FREQUENCY_ORDER.index(frequency) if known else len(FREQUENCY_ORDER)), name

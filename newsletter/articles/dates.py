"""The grammar of dates as British prose writes them: "Friday 27th March 2020", "July 2020".

Only finds and reads date phrases; what a date means is for deadlines.py to decide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

MONTHS = {
    "january": 1,
    "jan": 1,
    "february": 2,
    "feb": 2,
    "march": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "may": 5,
    "june": 6,
    "jun": 6,
    "july": 7,
    "jul": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sept": 9,
    "sep": 9,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
}

WEEKDAYS = {
    "monday": 0,
    "mon": 0,
    "tuesday": 1,
    "tues": 1,
    "tue": 1,
    "wednesday": 2,
    "wed": 2,
    "thursday": 3,
    "thurs": 3,
    "thur": 3,
    "thu": 3,
    "friday": 4,
    "fri": 4,
    "saturday": 5,
    "sat": 5,
    "sunday": 6,
    "sun": 6,
}


def _names(words: dict[str, int]) -> str:
    # Capitalised or upper case only: "may" and "march" in lower case are a verb, not a month.
    longest_first = sorted(words, key=len, reverse=True)
    return "|".join(f"{w.capitalize()}|{w.upper()}" for w in longest_first)


MENTION = re.compile(
    rf"""
    (?<![\w£$])
    (?:(?P<weekday>{_names(WEEKDAYS)})\.?,?\s+)?
    (?:(?:the\s+)?(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+)?
    (?P<month>{_names(MONTHS)})\b
    (?:,?\s+(?P<year>(?:19|20)\d{{2}})(?!\d))?
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Mention:
    """A date phrase as written; any part but the month may be missing."""

    start: int
    end: int
    month: int
    day: int | None = None
    year: int | None = None
    weekday: int | None = None


def find_mentions(text: str) -> list[Mention]:
    mentions = []
    for match in MENTION.finditer(text):
        weekday = match["weekday"]
        mentions.append(
            Mention(
                start=match.start(),
                end=match.end(),
                month=MONTHS[match["month"].lower()],
                day=int(match["day"]) if match["day"] else None,
                year=int(match["year"]) if match["year"] else None,
                weekday=WEEKDAYS[weekday.lower()] if weekday else None,
            )
        )
    return mentions


def make_date(year: int, month: int, day: int) -> date | None:
    """The date, or None when the text names one that does not exist (31 February)."""
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_date(text: str) -> date | None:
    """A whole phrase like "01 February 2018" or "Thursday 1st February 2018", else None."""
    match = MENTION.fullmatch(text.strip())
    if match is None or not match["day"] or not match["year"]:
        return None
    return make_date(int(match["year"]), MONTHS[match["month"].lower()], int(match["day"]))

"""Dates in an article's prose and what they mean: a window opening or closing, a change taking
effect, something to be done by then (money spent, work in place), or something to be announced.

Pure functions of the text and the article's first-publication date (the "reference"): a date
already past on that day is history, not a deadline, and is left out.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, replace
from datetime import date

from newsletter.articles.dates import Mention, find_mentions, make_date
from newsletter.articles.text import split_sentences
from newsletter.models import DatePrecision, DeadlineKind

# Bounds the work on pathological text; no real sentence is this long.
MAX_SENTENCE_CHARS = 5000
# Only the end of the words before a date decides its cue; keeps matching cheap on any text.
CUE_WINDOW = 80

# Words that may sit between a cue and its date: "closes at 5pm on Friday 27 March",
# "by the end of May".
_FILLER = (
    r"(?:[\s,]+(?:the|on|at|in|of|end|start|beginning|midnight|noon|midday"
    r"|\d{1,2}(?:[.:]\d{2})?\s*(?:am|pm)?))*"
)
_ANCHORED_CUES = {
    DeadlineKind.CLOSES: (
        r"by|until|till|before|no later than|not later than|up to and including|closes|close"
        r"|closing(?: date)?(?: is| of)?|deadline(?: is| of)?|ends|ending|due|expires"
        r"|must be (?:received|submitted|returned|made)(?: by)?"
    ),
    DeadlineKind.OPENS: r"opens|open|opening|open from|opens from|re-?opens|launch(?:es)?",
    # Not an application closing: what must be done with something already granted or decided.
    DeadlineKind.COMPLETE_BY: (
        r"(?:must|should|has to|have to|needs? to|to|will need to) be (?:fully )?"
        r"(?:spent|used|committed|implemented|in place|carried out|delivered)"
        r"(?: by| before| no later than| not later than)?"
        r"|(?:spend|use|commit) (?:the|your|their|this|any|all)(?: \w+){0,2} (?:by|before)"
    ),
    DeadlineKind.EFFECTIVE: (
        r"from|with effect from|effective|effective from|as of|starting|starting from|starts?"
        r"|begins|beginning|commences|commencing|comes into (?:force|effect)|takes effect"
        r"|applies from|in force from"
    ),
}
ANCHORED = {
    kind: re.compile(rf"\b(?:{cues}){_FILLER}[\s,]*$", re.IGNORECASE)
    for kind, cues in _ANCHORED_CUES.items()
}
CLAUSE = {
    DeadlineKind.CLOSES: re.compile(r"\b(?:deadline|closing date|closes?|closing)\b", re.I),
    DeadlineKind.OPENS: re.compile(r"\b(?:opens?|opening)\b", re.I),
    DeadlineKind.EFFECTIVE: re.compile(r"\b(?:takes? effect|in force|effective)\b", re.I),
}
SUFFIX_CLOSES = re.compile(
    r"^[\s,]*(?:is|will be|was)\s+the\s+(?:deadline|closing date|last date|final date|last day)",
    re.I,
)
# "13 February to 27 March", "between 1 and 5 June", "13–27 March"
RANGE_GAP = re.compile(r"\s*(?:[-–—]|to|until|till|through|and)\s*(?:the\s+)?", re.I)
BETWEEN = re.compile(r"\bbetween\s+(?:the\s+)?$", re.I)
DAY_BEFORE_RANGE = re.compile(
    r"(?<![\w£$.,])(\d{1,2})(?:st|nd|rd|th)?(?=\s*(?:[-–—]|to|until|till|and)\s*(?:the\s+)?$)",
    re.I,
)
# A month on its own ("May") is only a date after words like these: "in July", "by the end of May".
MONTH_ALONE_CUE = re.compile(
    r"\b(?:in|by|from|until|till|during|before|after|since|of|early|late|mid|end of"
    r"|start of|beginning of)[\s-]+(?:the\s+)?$",
    re.I,
)


@dataclass(frozen=True)
class FoundDate:
    """A date the article mentions, what it means, and the sentence it came from."""

    date: date
    precision: DatePrecision
    kind: DeadlineKind
    text: str


def find_deadlines(text: str, reference: date) -> list[FoundDate]:
    """Every date in the text not already past on the reference day, with its meaning."""
    found: dict[tuple[date, DatePrecision, DeadlineKind], FoundDate] = {}
    for sentence in split_sentences(text):
        sentence = sentence[:MAX_SENTENCE_CHARS]
        for item in _dates_in_sentence(sentence, reference):
            if not _is_past(item, reference):
                found.setdefault((item.date, item.precision, item.kind), item)
    return sorted(found.values(), key=lambda d: (d.date, d.kind.value))


def _is_past(item: FoundDate, reference: date) -> bool:
    if item.precision is DatePrecision.DAY:
        return item.date < reference
    last_day = calendar.monthrange(item.date.year, item.date.month)[1]
    return item.date.replace(day=last_day) < reference


def _dates_in_sentence(sentence: str, reference: date) -> list[FoundDate]:
    mentions = _with_range_starts(sentence, find_mentions(sentence))
    mentions = [m for i, m in enumerate(mentions) if _plausible(sentence, mentions, i)]
    ranges = _range_pairs(sentence, mentions)
    mentions = _carry_years(mentions, ranges, reference)
    results = []
    for i, mention in enumerate(mentions):
        when = _date_of(mention)
        if when is None:
            continue
        if i in ranges:
            kind = DeadlineKind.OPENS
        elif i - 1 in ranges:
            kind = DeadlineKind.CLOSES
        else:
            kind = _kind(sentence, mentions, i)
        precision = DatePrecision.DAY if mention.day else DatePrecision.MONTH
        results.append(FoundDate(when, precision, kind, sentence))
    return results


def _prefix(sentence: str, mentions: list[Mention], i: int) -> str:
    start = mentions[i - 1].end if i else 0
    return sentence[start : mentions[i].start]


def _with_range_starts(sentence: str, mentions: list[Mention]) -> list[Mention]:
    """Add the bare day that opens a range like "13–27 March 2020" or "from 13 to 27 March"."""
    result: list[Mention] = []
    for i, mention in enumerate(mentions):
        if mention.day is not None:
            before = sentence[mentions[i - 1].end if i else 0 : mention.start]
            match = DAY_BEFORE_RANGE.search(before[-CUE_WINDOW:])
            if match:
                offset = mention.start - len(before[-CUE_WINDOW:])
                result.append(
                    Mention(
                        start=offset + match.start(),
                        end=offset + match.end(),
                        month=mention.month,
                        day=int(match[1]),
                    )
                )
        result.append(mention)
    return result


def _plausible(sentence: str, mentions: list[Mention], i: int) -> bool:
    mention = mentions[i]
    if mention.day is not None or mention.year is not None:
        return True
    return bool(MONTH_ALONE_CUE.search(_prefix(sentence, mentions, i)[-CUE_WINDOW:]))


def _range_pairs(sentence: str, mentions: list[Mention]) -> set[int]:
    """Indexes of mentions that open a range closed by the next mention."""
    starts = set()
    for i in range(len(mentions) - 1):
        gap = sentence[mentions[i].end : mentions[i + 1].start]
        match = RANGE_GAP.fullmatch(gap)
        if match is None:
            continue
        if "and" in gap.lower() and not BETWEEN.search(_prefix(sentence, mentions, i)):
            continue
        if i - 1 in starts:  # "1 to 5 to 9 May" is not two ranges
            continue
        starts.add(i)
    return starts


def _carry_years(mentions: list[Mention], ranges: set[int], reference: date) -> list[Mention]:
    """Give every mention a year: from the range or sentence around it, else the nearest one."""
    result = []
    for i, mention in enumerate(mentions):
        if mention.year is None:
            later = [m for m in mentions[i + 1 :] if m.year is not None]
            earlier = [m for m in mentions[:i] if m.year is not None]
            if i in ranges and mentions[i + 1].year is not None:
                mention = _year_before(mention, mentions[i + 1])
            elif later:
                mention = _year_before(mention, later[0])
            elif earlier:
                mention = replace(mention, year=earlier[-1].year)
            else:
                mention = replace(mention, year=_nearest_year(mention, reference))
        result.append(mention)
    return result


def _year_before(mention: Mention, anchor: Mention) -> Mention:
    """The anchor's year, or the one before if that would put this date after the anchor."""
    assert anchor.year is not None
    own = (mention.month, mention.day or 1)
    theirs = (anchor.month, anchor.day or 1)
    year = anchor.year - 1 if own > theirs else anchor.year
    return replace(mention, year=year)


def _nearest_year(mention: Mention, reference: date) -> int:
    """The year that puts the date nearest the reference, preferring the future and the
    weekday the text gives ("Friday 27 March")."""
    candidates = []
    for year in (reference.year - 1, reference.year, reference.year + 1):
        when = make_date(year, mention.month, mention.day or 1)
        if when is None:
            continue
        wrong_weekday = mention.weekday is not None and when.weekday() != mention.weekday
        days = (when - reference).days
        # A date behind the reference counts double: prose looks ahead more than back.
        distance = days if days >= 0 else -2 * days
        candidates.append((wrong_weekday, distance, year))
    return min(candidates)[2] if candidates else reference.year


def _date_of(mention: Mention) -> date | None:
    assert mention.year is not None
    return make_date(mention.year, mention.month, mention.day or 1)


def _kind(sentence: str, mentions: list[Mention], i: int) -> DeadlineKind:
    prefix = _prefix(sentence, mentions, i)
    tail = prefix[-CUE_WINDOW:]
    anchored = [
        (match.start(), kind)
        for kind, pattern in ANCHORED.items()
        if (match := pattern.search(tail)) is not None
    ]
    if anchored:
        return min(anchored, key=lambda hit: hit[0])[1]  # the longest cue wins: "open from"
    following = sentence[mentions[i].end : mentions[i + 1].start if i + 1 < len(mentions) else None]
    if SUFFIX_CLOSES.search(following):
        return DeadlineKind.CLOSES
    for kind, pattern in CLAUSE.items():
        if pattern.search(prefix):
            return kind
    return DeadlineKind.ANNOUNCEMENT

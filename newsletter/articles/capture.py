"""Page captures: the plain text of a news page, site chrome and all.

The shape of a capture: site chrome (menus, blurbs), a "Latest news" marker, the article's title
line, its paragraphs and lists, "First published DD Month YYYY" lines, then maybe a footer.
Chrome is known by structure, never by its sentences: everything up to the marker, everything
after the closing "First published" line, plus lines at the edges of the article that were chrome
in captures already stored (`known_chrome`), which is how a capture with no marker is cleaned.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from newsletter.articles.dates import parse_date
from newsletter.articles.text import clean_line, word_count

MARKER = re.compile(r"^latest (?:news|updates)$", re.IGNORECASE)
FIRST_PUBLISHED = re.compile(r"^first published\b:?\s*(?P<date>.*)$", re.IGNORECASE)
BULLET = re.compile(r"^(?:[•·▪◦‣●○■□]\s*|[-*–]\s+)(?P<text>.+)$")
NUMBERED = re.compile(r"^\d{1,3}[.)]\s+(?P<text>.+)$")

NO_MARKER_NOTE = (
    "no 'Latest news' line: site chrome was recognised only from lines seen in stored captures"
)
TITLE_MAX_WORDS = 25
TITLE_MAX_CHARS = 250
HEADING_MAX_WORDS = 12


class CaptureError(ValueError):
    pass


@dataclass(frozen=True)
class Block:
    """A paragraph ("p"), subheading ("h2") or list ("ul", "ol") of the article."""

    kind: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class Capture:
    title: str
    blocks: tuple[Block, ...]
    first_published: date | None
    notes: tuple[str, ...] = ()  # doubts worth telling whoever imports it
    # No marker and no chrome seen in stored captures: plain text, all of it the article.
    plain: bool = False


def parse_capture(text: str, known_chrome: Iterable[str] = ()) -> Capture:
    lines = [clean_line(line) for line in text.splitlines()]
    start = _article_start(lines)
    region = lines[start:]
    dates = [_first_published(line) for line in region]
    published = min((d for d in dates if d is not None), default=None)
    region = _without_footer(region)
    region = ["" if FIRST_PUBLISHED.match(line) else line for line in region]
    untrimmed = _trim_chrome(region, set())
    region = _trim_chrome(region, set(known_chrome))
    if not region:
        raise CaptureError("no title: nothing follows the site chrome")
    title, body = region[0], region[1:]
    _check_title(title)
    blocks = _blocks(body)
    if not blocks:
        raise CaptureError(f"no article text after the title {title!r}")
    learned = region != untrimmed  # lines known from stored captures were cut off
    notes = (NO_MARKER_NOTE,) if not start and learned else ()
    return Capture(title, tuple(blocks), published, notes, plain=not start and not learned)


def chrome_lines(text: str) -> set[str]:
    """The lines a capture's structure marks as chrome: before its marker, after its last
    "First published" line. Stored captures' chrome teaches how to clean new ones."""
    lines = [clean_line(line) for line in text.splitlines()]
    start = _article_start(lines)
    published = [i for i, line in enumerate(lines) if FIRST_PUBLISHED.match(line)]
    footer = lines[published[-1] + 1 :] if published else []
    head = lines[:start] if start else []
    return {line for line in head + footer if line and not FIRST_PUBLISHED.match(line)}


def to_html(blocks: Iterable[Block]) -> str:
    parts = []
    for block in blocks:
        items = [html.escape(item, quote=False) for item in block.items]
        if block.kind in ("ul", "ol"):
            lis = "".join(f"<li>{item}</li>" for item in items)
            parts.append(f"<{block.kind}>{lis}</{block.kind}>")
        else:
            parts.append(f"<{block.kind}>{items[0]}</{block.kind}>")
    return "\n".join(parts)


def _article_start(lines: list[str]) -> int:
    """Just after the last marker before the first "First published" line, else 0."""
    published = next((i for i, line in enumerate(lines) if FIRST_PUBLISHED.match(line)), None)
    markers = [i for i, line in enumerate(lines[:published]) if MARKER.match(line)]
    return markers[-1] + 1 if markers else 0


def _without_footer(lines: list[str]) -> list[str]:
    """When "First published" closes the article (a title and text come before it), what
    follows the last such line is the page footer."""
    published = [i for i, line in enumerate(lines) if FIRST_PUBLISHED.match(line)]
    if published and sum(1 for line in lines[: published[0]] if line) >= 2:
        return lines[: published[-1] + 1]
    return lines


def _first_published(line: str) -> date | None:
    match = FIRST_PUBLISHED.match(line)
    return parse_date(match["date"]) if match else None


def _trim_chrome(lines: list[str], known: set[str]) -> list[str]:
    """Drop blank lines and known chrome from both ends; chrome inside the article stays."""
    start, end = 0, len(lines)
    while start < end and (not lines[start] or lines[start] in known):
        start += 1
    while end > start and (not lines[end - 1] or lines[end - 1] in known):
        end -= 1
    return lines[start:end]


def _check_title(title: str) -> None:
    if BULLET.match(title) or NUMBERED.match(title):
        raise CaptureError(f"no title: the article starts with a list item ({title[:60]!r})")
    if word_count(title) > TITLE_MAX_WORDS or len(title) > TITLE_MAX_CHARS:
        raise CaptureError(
            f"no title: the first line after the site chrome is a paragraph ({title[:60]!r}...)"
        )


def _blocks(lines: list[str]) -> list[Block]:
    blocks: list[tuple[str, list[str]]] = []
    after_blank = True
    for line in lines:
        if not line:
            after_blank = True
            continue
        kind, text = _line_kind(line)
        last_kind = blocks[-1][0] if blocks else None
        if kind in ("ul", "ol"):
            if last_kind == kind:
                blocks[-1][1].append(text)  # blank lines between items keep one list
            else:
                blocks.append((kind, [text]))
        elif not after_blank and last_kind is not None:
            # A wrapped line continues the paragraph or list item above it.
            blocks[-1][1][-1] += " " + text
        else:
            blocks.append(("p", [text]))
        after_blank = False
    return [_heading_or_paragraph(blocks, i) for i in range(len(blocks))]


def _line_kind(line: str) -> tuple[str, str]:
    if match := BULLET.match(line):
        return "ul", match["text"]
    if match := NUMBERED.match(line):
        return "ol", match["text"]
    return "p", line


def _heading_or_paragraph(blocks: list[tuple[str, list[str]]], i: int) -> Block:
    """A short line with no closing punctuation, followed by more article, is a subheading."""
    kind, items = blocks[i]
    if kind == "p" and i + 1 < len(blocks):
        text = items[0]
        if word_count(text) <= HEADING_MAX_WORDS and not text.endswith(tuple(".!?:;,")):
            return Block("h2", (text,))
    return Block(kind, tuple(items))

"""Importers: one entry point, `parse_article`, that reads a page capture, Markdown with front
matter, or HTML, and returns the article's title, sanitised body, plain text and dates.

Pure: text in, `ParsedArticle` out, `ParseError` (saying what is wrong) for bad input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from html.parser import HTMLParser
from typing import Any

import markdown
import yaml

from newsletter.articles.capture import FIRST_PUBLISHED, CaptureError, parse_capture, to_html
from newsletter.articles.dates import parse_date
from newsletter.articles.sanitise import MAX_DEPTH, TooComplex, check_bounds, sanitise
from newsletter.articles.text import clean_line, split_sentences, word_count
from newsletter.models import Priority

CAPTURE, MARKDOWN, HTML = "capture", "markdown", "html"
# Text with no "Latest news" line and no site chrome: the first line is the title.
PLAIN_TEXT = "text"
SUMMARY_WORDS = 40

FRONT_MATTER = re.compile(
    r"\A---[ \t]*\r?\n(?P<yaml>.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S
)
FRONT_MATTER_KEYS = ("title", "summary", "topics", "priority", "first_published", "source")
HTML_START = re.compile(
    r"<(?:!doctype|html|head|body|h1|article|main|div|p|section|title|ul|ol|table)\b", re.I
)
ATX_TITLE = re.compile(r"\A\s*#[ \t]+(?P<title>[^\n]+?)[ \t#]*(?:\n|\Z)")
H1 = re.compile(r"<h1>(?P<inner>.*?)</h1>\s*", re.S)

# Markdown nests a blockquote per ">" and a list per four spaces of indent.
MARKDOWN_NESTING = re.compile(r"^(?:[ \t]*>)+|^[ ]{4}(?:[ ]{4})+", re.M)


class ParseError(ValueError):
    pass


@dataclass(frozen=True)
class ParsedArticle:
    format: str
    title: str
    body_html: str
    text: str  # the body as plain text, a paragraph or list item a line: for tags and dates
    summary: str
    first_published: date | None
    topics: tuple[str, ...] = ()  # chosen by the author (front matter)
    priority: Priority | None = None  # chosen by the author (front matter)
    source: str = ""
    notes: tuple[str, ...] = ()  # doubts about the result, for whoever imports it


def detect_format(text: str, filename: str = "") -> str:
    head = text.lstrip("\ufeff \t\r\n")
    name = filename.lower()
    if FRONT_MATTER.match(head) or name.endswith((".md", ".markdown")):
        return MARKDOWN
    if HTML_START.match(head) or name.endswith((".html", ".htm")):
        return HTML
    return CAPTURE


def parse_article(text: str, filename: str = "", known_chrome: Iterable[str] = ()) -> ParsedArticle:
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ParseError("the file is empty")
    kind = detect_format(text, filename)
    try:
        if kind == MARKDOWN:
            return parse_markdown(text)
        if kind == HTML:
            return parse_html(text)
        return parse_page_capture(text, known_chrome)
    except TooComplex as exc:
        raise ParseError(str(exc)) from None


def parse_page_capture(text: str, known_chrome: Iterable[str] = ()) -> ParsedArticle:
    try:
        capture = parse_capture(text, known_chrome)
    except CaptureError as exc:
        raise ParseError(str(exc)) from None
    paragraphs = [b.items[0] for b in capture.blocks if b.kind == "p"]
    return ParsedArticle(
        format=PLAIN_TEXT if capture.plain else CAPTURE,
        title=capture.title,
        body_html=sanitise(to_html(capture.blocks)),
        text="\n".join(item for block in capture.blocks for item in block.items),
        summary=summarise(paragraphs),
        first_published=capture.first_published,
        notes=capture.notes,
    )


def parse_markdown(text: str) -> ParsedArticle:
    meta, body = _front_matter(text)
    title = _text_field(meta, "title")
    if not title and (match := ATX_TITLE.match(body)):
        title, body = clean_line(match["title"]), body[match.end() :]
    if not title:
        raise ParseError("no title: give `title:` in the front matter or start with '# Title'")
    _check_markdown_nesting(body)
    rendered = markdown.markdown(body, extensions=["extra", "sane_lists"])
    return _from_html(
        MARKDOWN,
        title,
        sanitise(rendered),
        summary=_text_field(meta, "summary"),
        first_published=_date_field(meta),
        topics=_topics_field(meta),
        priority=_priority_field(meta),
        source=_text_field(meta, "source"),
    )


def parse_html(text: str) -> ParsedArticle:
    check_bounds(text)  # before html_blocks, whose cost also grows with the depth
    blocks = html_blocks(text)
    title = next((t for tag, t in blocks if tag == "h1"), "") or next(
        (t for tag, t in blocks if tag == "title"), ""
    )
    if not title:
        raise ParseError("no title: the HTML has no <h1> or <title>")
    body = sanitise(text)
    heading = H1.search(body)
    if heading and clean_line(_strip_tags(heading["inner"])) == title:
        body = body[: heading.start()] + body[heading.end() :]
    return _from_html(HTML, title, body.strip())


def _from_html(kind: str, title: str, body_html: str, **author: Any) -> ParsedArticle:
    blocks = [(tag, text) for tag, text in html_blocks(body_html)]
    published = author.pop("first_published", None)
    dates = [_published_in(text) for _, text in blocks]
    if published is None:
        published = min((d for d in dates if d is not None), default=None)
    paragraphs = [text for tag, text in blocks if tag in ("p", "div", "blockquote")]
    if not blocks:
        raise ParseError(f"no article text after the title {title!r}")
    return ParsedArticle(
        format=kind,
        title=title,
        body_html=body_html,
        text="\n".join(text for _, text in blocks if not FIRST_PUBLISHED.match(text)),
        summary=author.pop("summary", "") or summarise(paragraphs or [t for _, t in blocks]),
        first_published=published,
        **author,
    )


def _check_markdown_nesting(body: str) -> None:
    """Markdown renders nested quotes and lists recursively: refuse depths no article has
    before rendering (a few thousand ">" overflow Python's stack)."""
    check_bounds(body)
    depth = max(
        (
            len(m[0].replace(" ", "").replace("\t", "")) or len(m[0]) // 4
            for m in MARKDOWN_NESTING.finditer(body)
        ),
        default=0,
    )
    if depth > MAX_DEPTH:
        raise TooComplex(
            f"the Markdown nests quotes or lists {depth:,} deep; the limit is {MAX_DEPTH}"
        )


def _published_in(line: str) -> date | None:
    match = FIRST_PUBLISHED.match(line)
    return parse_date(match["date"]) if match else None


def summarise(paragraphs: Iterable[str]) -> str:
    """The first sentences, about SUMMARY_WORDS words; a sentence leading into a list is skipped."""
    chosen: list[str] = []
    words = 0
    for sentence in split_sentences("\n".join(paragraphs)):
        if sentence.endswith(":"):
            continue
        count = word_count(sentence)
        if chosen and words + count > SUMMARY_WORDS * 1.25:
            break
        chosen.append(sentence)
        words += count
        if words >= SUMMARY_WORDS:
            break
    summary = " ".join(chosen)
    if words > SUMMARY_WORDS * 1.5:
        summary = " ".join(summary.split()[:SUMMARY_WORDS]).rstrip(",;:") + "…"
    return summary


# --- front matter ---------------------------------------------------------------------------


def _front_matter(text: str) -> tuple[dict[str, Any], str]:
    match = FRONT_MATTER.match(text)
    if match is None:
        return {}, text
    try:
        meta = yaml.safe_load(match["yaml"])
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 2}" if where is not None else ""
        raise ParseError(f"the front matter is not valid YAML{line}") from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ParseError("the front matter must be `key: value` lines")
    unknown = sorted(str(key) for key in meta if key not in FRONT_MATTER_KEYS)
    if unknown:
        raise ParseError(
            f"unknown front matter field {unknown[0]!r} (known: {', '.join(FRONT_MATTER_KEYS)})"
        )
    return meta, text[match.end() :]


def _text_field(meta: dict[str, Any], key: str) -> str:
    value = meta.get(key)
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        raise ParseError(f"front matter {key!r} must be text")
    return clean_line(str(value))


def _date_field(meta: dict[str, Any]) -> date | None:
    value = meta.get("first_published")
    if value is None or isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    parsed = _iso_date(str(value)) or parse_date(str(value))
    if parsed is None:
        raise ParseError(
            f"front matter first_published {value!r} is not a date "
            "(use 2021-08-01 or 1 August 2021)"
        )
    return parsed


def _iso_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def _topics_field(meta: dict[str, Any]) -> tuple[str, ...]:
    value = meta.get("topics")
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ParseError("front matter 'topics' must be a list of topic slugs")
    return tuple(dict.fromkeys(i.strip().lower() for i in items if i.strip()))


def _priority_field(meta: dict[str, Any]) -> Priority | None:
    value = meta.get("priority")
    if value is None:
        return None
    try:
        return Priority(str(value).strip().lower())
    except ValueError:
        raise ParseError(
            f"front matter priority {value!r} must be one of: normal, breaking"
        ) from None


# --- HTML to text ---------------------------------------------------------------------------

BLOCK_TAGS = {
    "address", "article", "blockquote", "body", "caption", "dd", "div", "dl", "dt",
    "figcaption", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "html", "li",
    "main", "ol", "p", "pre", "section", "table", "td", "th", "title", "tr", "ul",
}  # fmt: skip
SKIPPED = {"script", "style", "noscript", "template"}


class _BlockCollector(HTMLParser):
    """Text of an HTML document, one entry per block element, tagged with that element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str]] = []
        self._open: list[str] = []
        self._text: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED:
            self._skipping += 1
        elif tag == "br":
            self._text.append(" ")
        elif tag in BLOCK_TAGS:
            self._flush()
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in BLOCK_TAGS:
            self._flush()
            if tag in self._open:
                del self._open[len(self._open) - 1 - self._open[::-1].index(tag)]

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self._text.append(data)

    def close(self) -> None:
        super().close()
        self._flush()

    def _flush(self) -> None:
        text = clean_line("".join(self._text))
        self._text = []
        if text:
            self.blocks.append((self._open[-1] if self._open else "p", text))


def html_blocks(html: str) -> list[tuple[str, str]]:
    collector = _BlockCollector()
    collector.feed(html)
    collector.close()
    return collector.blocks


def _strip_tags(html: str) -> str:
    return " ".join(text for _, text in html_blocks(html))

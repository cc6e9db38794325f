"""Content from outside the templates (article HTML, staff Markdown) made safe for an email.

Article HTML was sanitised when it was stored; it is cleaned again here with an email-sized
allow-list, because an email must not carry a script or a javascript: link whatever the store
let through. Runs once per send, so its cost does not matter.
"""

from __future__ import annotations

import re
from html import unescape

import lxml.html
import markdown
import nh3
from lxml.etree import _Element
from markupsafe import Markup

from newsletter.rendering.formatting import TEXT_WIDTH, wrap

TAGS = {
    "a", "b", "blockquote", "br", "caption", "code", "div", "em", "h1", "h2", "h3", "h4",
    "hr", "i", "img", "li", "ol", "p", "pre", "small", "span", "strong", "sub", "sup",
    "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ATTRIBUTES = {"a": {"href"}, "img": {"src", "alt"}, "td": {"colspan"}, "th": {"colspan"}}
URL_SCHEMES = {"http", "https", "mailto"}
HEADING_TAG = re.compile(r"<(/?)h([1-6])\b")
WORDS = re.compile(r"\w+")
BLOCK_TAG = re.compile(
    r"</?(?:p|div|h[1-6]|li|ul|ol|br|tr|td|th|table|blockquote|pre|hr)\b[^>]*>", re.I
)
SENTENCE_END = re.compile(r"(?<=[.!?…:])\s+")
# "Dear colleague,", "Hello all!", "Good morning everyone,": a body that opens with its own.
GREETING = re.compile(
    r"(dear|hello|hi|hey|greetings|good (morning|afternoon|evening))(?![\w-])[^.?]{0,60}[,!:]",
    re.IGNORECASE,
)


def safe_html(raw: str) -> Markup:
    """Allow-listed HTML; images without alt text get an empty alt so readers skip them."""
    cleaned = nh3.clean(
        raw, tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES, link_rel=None
    )
    if "<img" not in cleaned:
        return Markup(cleaned)
    wrapper = lxml.html.fragment_fromstring(cleaned, create_parent="div")
    for image in wrapper.iter("img"):
        image.set("alt", image.get("alt", ""))
    inner = lxml.html.tostring(wrapper, encoding="unicode")
    return Markup(inner[len("<div>") : -len("</div>")])


def markdown_html(text: str) -> Markup:
    """Staff's Markdown as safe HTML."""
    return safe_html(markdown.markdown(text, extensions=["extra", "sane_lists"]))


def under_heading(html: Markup, top: int = 2) -> Markup:
    """Safe HTML whose headings nest under the email's own h1: the levels it uses, in order,
    become h`top`, h`top`+1... so that no level is skipped or repeats the h1."""
    levels = sorted({int(level) for _, level in HEADING_TAG.findall(html)})
    if not levels:
        return html
    new = {level: min(top + rank, 6) for rank, level in enumerate(levels)}
    return Markup(HEADING_TAG.sub(lambda m: f"<{m[1]}h{new[int(m[2])]}", html))


def plain_words(html: str) -> str:
    """Just the words of some HTML on one line, no markup of any kind (for a preheader)."""
    text = nh3.clean(BLOCK_TAG.sub(" ", html), tags=set())  # "</h2><p>" parts two words
    return " ".join(unescape(text).split())


def repeats(summary: str, html: str) -> bool:
    """Whether every sentence of the summary is already in the HTML's text: a summary is
    often the body's first paragraph, or sentences taken from it (the last one may be cut
    short with an ellipsis)."""
    body = f" {' '.join(WORDS.findall(plain_words(html).casefold()))} "
    sentences = [s for s in SENTENCE_END.split(summary.strip()) if WORDS.search(s)]
    for sentence in sentences:
        said = WORDS.findall(sentence.casefold())
        if sentence.endswith(("…", "...")) and len(said) > 1:
            said = said[:-1]  # the last word may be cut
        if f" {' '.join(said)} " not in body:
            return False
    return bool(sentences)


def greeting_of(html: str) -> str:
    """The body's own greeting ("Dear colleague,"): its first paragraph, when it is one."""
    if not html.strip():
        return ""
    first = next(iter(lxml.html.fragment_fromstring(html, create_parent="div")), None)
    words = " ".join(first.text_content().split()) if first is not None else ""
    return words if GREETING.fullmatch(words) else ""


# --- plain text ----------------------------------------------------------------------------

BREAK = "\x00"  # a <br> inside running text, until the text is wrapped
HEADINGS = {"h1": "=", "h2": "=", "h3": "-", "h4": "-", "h5": "-", "h6": "-"}
LISTS = {"ul", "ol"}
BLOCKS = {"p", "div", "table", "thead", "tbody", "tr", "td", "th", "caption", "section"}


def html_to_text(html: str, width: int = TEXT_WIDTH) -> str:
    """Real plain text, no Markdown: paragraphs wrapped at `width`, links written out as
    "text (URL)", headings underlined, list items after a bullet or number."""
    if not html.strip():
        return ""
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    return "\n\n".join(_blocks(root, width))


def _blocks(element: _Element, width: int) -> list[str]:
    """The element's content as blocks of text, each already wrapped."""
    blocks: list[str] = []
    running: list[str] = [element.text or ""]

    def flush() -> None:
        lines = [" ".join(line.split()) for line in "".join(running).split(BREAK)]
        text = "\n".join(wrap(line, width) for line in lines if line)
        if text:
            blocks.append(text)
        running.clear()

    for child in element:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag in HEADINGS:
            flush()
            blocks.append(_heading(_inline(child), HEADINGS[tag], width))
        elif tag in LISTS:
            flush()
            blocks.append(_list(child, tag == "ol", width))
        elif tag == "blockquote":
            flush()
            blocks += [_indent(block, "    ") for block in _blocks(child, width - 4)]
        elif tag == "pre":
            flush()
            blocks.append(child.text_content().rstrip("\n"))
        elif tag == "hr":
            flush()
            blocks.append("-" * 20)
        elif tag in BLOCKS:
            flush()
            blocks += _blocks(child, width)
        elif tag == "br":
            running.append(BREAK)
        elif tag:
            running.append(_inline(child))
        running.append(child.tail or "")
    flush()
    return blocks


def _inline(element: _Element) -> str:
    """Running text of an inline element: links written out, images by their alt text."""
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag == "img":
        return element.get("alt") or ""
    if tag == "br":
        return BREAK
    text = (element.text or "") + "".join(_inline(c) + (c.tail or "") for c in element)
    if tag != "a":
        return text
    href = element.get("href") or ""
    shown = href.removeprefix("mailto:")
    words = " ".join(text.split())
    if not href or words in (href, shown):
        return words or shown
    return f"{words} ({shown})" if words else shown


def _indent(block: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in block.split("\n"))


def _heading(text: str, line: str, width: int) -> str:
    wrapped = wrap(" ".join(text.replace(BREAK, " ").split()), width)
    return f"{wrapped}\n{line * max(map(len, wrapped.split(chr(10))))}"


def _list(element: _Element, ordered: bool, width: int) -> str:
    items = []
    for number, item in enumerate((c for c in element if c.tag == "li"), 1):
        marker = f"{number}. " if ordered else "• "
        body = "\n".join(_blocks(item, width - len(marker))) or ""
        lines = body.split("\n")
        items.append(
            "\n".join([marker + lines[0], *(" " * len(marker) + line for line in lines[1:])])
        )
    return "\n".join(items)

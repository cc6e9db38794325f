"""Article HTML made safe once, when it is stored: an allow-list cleaner with bounded input.

The cleaner's cost grows with the square of the nesting depth (html5ever checks the open
elements for every tag), so input deeper or larger than an article ever is gets refused with
a clear error before it reaches the cleaner. Views show the stored result; they never clean.
"""

from __future__ import annotations

import re

import nh3

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "div", "dl", "dt", "em",
    "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol",
    "p", "pre", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}
# Dropped with everything inside them, not just unwrapped.
DROPPED_WITH_CONTENT = {
    "script", "style", "title", "head", "noscript", "template", "iframe", "object", "embed",
    "svg", "math", "textarea", "select", "button",
}  # fmt: skip
URL_SCHEMES = {"http", "https", "mailto"}

# A long article is ~50 KB and a saved web page with its scripts ~1 MB; real pages nest ~30 deep.
MAX_CHARS = 2_000_000
MAX_DEPTH = 100

_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(?:\s[^>]*)?(/?)>")
_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
}  # fmt: skip
# Opening one of these while the same one is open closes the first (<p>a<p>b, <li>a<li>b).
_SELF_CLOSING_SIBLINGS = {"p", "li", "dt", "dd", "tr", "td", "th", "option"}


class TooComplex(ValueError):
    """The HTML is larger or deeper than an article can be; the message says which and how."""


def nesting_depth(html: str, enough: int | None = None) -> int:
    """How deeply the elements nest, counted in one pass (unclosed tags count as open);
    counting stops once the depth passes `enough`."""
    stack: list[str] = []
    open_count: dict[str, int] = {}
    deepest = 0
    for match in _TAG.finditer(_COMMENT.sub("", html)):
        closing, name, self_closed = match.groups()
        name = name.lower()
        if name in _VOID or self_closed:
            continue
        if closing:
            if open_count.get(name):
                while (top := stack.pop()) != name:
                    open_count[top] -= 1
                open_count[name] -= 1
            continue
        if name in _SELF_CLOSING_SIBLINGS and stack and stack[-1] == name:
            continue
        stack.append(name)
        open_count[name] = open_count.get(name, 0) + 1
        deepest = max(deepest, len(stack))
        if enough is not None and deepest > enough:
            break
    return deepest


def check_bounds(html: str) -> None:
    if len(html) > MAX_CHARS:
        raise TooComplex(f"the article is {len(html):,} characters; the limit is {MAX_CHARS:,}")
    if nesting_depth(html, enough=MAX_DEPTH) > MAX_DEPTH:
        raise TooComplex(
            f"the HTML nests elements more than {MAX_DEPTH} deep, deeper than any article "
            "(save the page again, or paste its text)"
        )


def sanitise(html: str) -> str:
    """Allow-list sanitising: no scripts, no event handlers, no javascript: links.
    Raises TooComplex for input outside the bounds."""
    check_bounds(html)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
    ).strip()

"""Content from outside the templates (article HTML, staff Markdown) made safe for an email.

Article HTML was sanitised when it was stored; it is cleaned again here with an email-sized
allow-list, because an email must not carry a script or a javascript: link whatever the store
let through. Runs once per send, so its cost does not matter.
"""

from __future__ import annotations

from html import unescape

import html2text
import lxml.html
import markdown
import nh3
from markupsafe import Markup

TAGS = {
    "a", "b", "blockquote", "br", "caption", "code", "div", "em", "h1", "h2", "h3", "h4",
    "hr", "i", "img", "li", "ol", "p", "pre", "small", "span", "strong", "sub", "sup",
    "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ATTRIBUTES = {"a": {"href"}, "img": {"src", "alt"}, "td": {"colspan"}, "th": {"colspan"}}
URL_SCHEMES = {"http", "https", "mailto"}


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


def plain_words(html: str) -> str:
    """Just the words of some HTML on one line, no markup of any kind (for a preheader)."""
    text = nh3.clean(html, tags=set())
    return " ".join(unescape(text).split())


def html_to_text(html: str) -> str:
    """A readable plain-text twin of some HTML: links kept as URLs, wrapped at 78 columns."""
    converter = html2text.HTML2Text()
    converter.body_width = 78
    converter.wrap_links = False
    converter.unicode_snob = True
    converter.images_to_alt = True
    converter.single_line_break = False
    return converter.handle(html).strip()

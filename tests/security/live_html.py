"""What in a page or an email a browser would run or load: script-like elements, on* event
handlers and javascript: links. Text that merely looks like HTML is not counted, nor are the
site's own scripts, frames and forms (a /static/ script, a frame or a form of its own pages)."""

from __future__ import annotations

from html.parser import HTMLParser

ACTIVE_ELEMENTS = ("script", "iframe", "object", "embed", "style", "base", "form", "meta")


class _Live(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ACTIVE_ELEMENTS and not _own(tag, dict(attrs)):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            target = "".join((value or "").split()).lower()
            if name.startswith("on") or target.startswith(("javascript:", "vbscript:", "data:")):
                self.found.append(f"<{tag} {name}={value!r}>")


def _own(tag: str, attrs: dict[str, str | None]) -> bool:
    if tag == "script":
        return (attrs.get("src") or "").startswith("/static/")
    if tag == "iframe":  # the console frames its own email previews
        source = attrs.get("src") or ""
        return source.startswith("/") and not source.startswith("//")
    if tag == "form":
        action = attrs.get("action") or ""  # none: the form posts to its own page
        return action == "" or (action.startswith("/") and not action.startswith("//"))
    return False


def live_parts(html: str) -> list[str]:
    parser = _Live()
    parser.feed(html)
    parser.close()
    return parser.found


def main_of(page: str) -> str:
    """The page's <main> element: the site's own scripts and forms sit outside it."""
    start = page.find("<main")
    end = page.find("</main>")
    assert start != -1 and end != -1, "the page has no <main>"
    return page[start : end + len("</main>")]


def body_of(html: str) -> str:
    """An email's <body>: its <head> holds the template's own <style> and <meta>."""
    start = html.find("<body")
    assert start != -1, "the email has no <body>"
    return html[start:]

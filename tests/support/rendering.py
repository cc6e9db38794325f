"""Reading messages back the way a mail client would, for the rendering tests."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage

import lxml.html

from newsletter.rendering import samples
from newsletter.rendering.build import EmailSpec
from newsletter.rendering.emails import (
    address_changed_spec,
    address_confirm_spec,
    alert_spec,
    announcement_spec,
    confirm_spec,
    digest_spec,
    manage_link_spec,
    reminder_spec,
    welcome_spec,
)

SEND_ID = 41
BULK_KINDS = ("alert", "digest", "reminder", "announcement")


def sample_spec(kind: str) -> EmailSpec:
    article = samples.sample_articles()[0]
    specs = {
        "alert": lambda: alert_spec(article, send_id=SEND_ID),
        "digest": lambda: digest_spec("weekly", samples.sample_groups(), send_id=SEND_ID),
        "reminder": lambda: reminder_spec(article, article.deadlines[0], 7, send_id=SEND_ID),
        "announcement": lambda: announcement_spec(
            samples.SAMPLE_ANNOUNCEMENT_SUBJECT,
            samples.SAMPLE_ANNOUNCEMENT_MARKDOWN,
            send_id=SEND_ID,
        ),
        "confirm": lambda: confirm_spec(topics=samples.SAMPLE_TOPIC_CHOICES),
        "welcome": lambda: welcome_spec(topics=samples.SAMPLE_TOPIC_CHOICES),
        "manage-link": lambda: manage_link_spec(topics=samples.SAMPLE_TOPIC_CHOICES),
        "address-confirm": lambda: address_confirm_spec(
            address_url="https://localhost:8443/confirm/address/token"
        ),
        "address-changed": lambda: address_changed_spec(
            new_email="ann.new@example.com", sender_address="news@localhost"
        ),
    }
    return specs[kind]()


def parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def raw_header(data: bytes, name: str) -> bytes:
    """A header's value as it is on the wire, folds included."""
    found = re.search(rb"\r\n" + name.encode() + rb": (.*?)\r\n(?![ \t])", data, re.S)
    assert found is not None, f"no {name} header"
    return found.group(1)


def text_of(message: EmailMessage) -> str:
    return _content(message, "plain")


def html_of(message: EmailMessage) -> str:
    return _content(message, "html")


def _content(message: EmailMessage, subtype: str) -> str:
    """A part's decoded text with the line endings a mail client shows (the wire has CRLF)."""
    part = message.get_body((subtype,))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def same_html(html: str) -> str:
    """HTML re-serialised, so that `&#x27;` and `'` (equal to a browser) compare equal."""
    return lxml.html.tostring(lxml.html.document_fromstring(html), encoding="unicode")


def hrefs(html: str) -> dict[str, str]:
    """Link text -> href for every link in the HTML."""
    document = lxml.html.document_fromstring(html)
    return {" ".join(a.text_content().split()): a.get("href") for a in document.iter("a")}

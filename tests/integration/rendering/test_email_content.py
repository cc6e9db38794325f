"""Every kind of email as sent (tests/support/every_email.py), read as a member and a mail
client would: a plain-text part that stands alone, headings and contrast that work for every
reader, the headers list mail needs, and a footer that says why this member got it."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage

import lxml.html
import pytest

from tests.support.every_email import KINDS, POSTAL_ADDRESS

LIST_KINDS = KINDS[:8]
MEMBER_KINDS = ("confirm", "welcome", "manage link")
MARKDOWN = {
    "bold or italic": re.compile(r"\*\*\S|\S\*\*|(?<!\w)__\S|(?<!\w)_\S[^_\n]*\S_(?!\w)"),
    "link": re.compile(r"\]\(|!\["),
    "heading": re.compile(r"^#{1,6} ", re.M),
    "bullet": re.compile(r"^\s*[*+-] ", re.M),
    "code": re.compile(r"`"),
    "quote": re.compile(r"^> ", re.M),
}
URL = re.compile(r"https?://\S+")


def parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(data: bytes) -> str:
    part = parsed(data).get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def html_of(data: bytes) -> str:
    part = parsed(data).get_body(("html",))
    assert part is not None
    return str(part.get_content())


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("kind", KINDS)
def test_the_text_part_is_plain_text_wrapped_at_72(
    kind: str, every_email: dict[str, bytes]
) -> None:
    text = text_of(every_email[kind])
    for name, pattern in MARKDOWN.items():
        assert not pattern.search(text), f"{kind}: Markdown {name}: {pattern.search(text)}"
    for line in text.split("\n"):
        # Only a URL may run past 72: it cannot be broken and still work.
        assert len(line) <= 72 or URL.search(line), f"{kind}: {line!r}"
    lines = text.split("\n")
    underlined = [
        above
        for above, below in zip(lines, lines[1:], strict=False)
        if below and set(below) <= {"=", "-"} and len(below) == len(above.rstrip())
    ]
    assert underlined, f"{kind}: no underlined heading"


def test_links_in_the_text_are_written_out(every_email: dict[str, bytes]) -> None:
    text = text_of(every_email["announcement"])
    assert "Book your place (http://localhost:8000/articles) by 8 January 2027." in words(text)


@pytest.mark.parametrize("kind", KINDS)
def test_html_has_one_h1_headings_in_order_and_a_dark_scheme(
    kind: str, every_email: dict[str, bytes]
) -> None:
    html = html_of(every_email[kind])
    document = lxml.html.document_fromstring(html)
    assert document.get("lang") == "en-GB"
    levels = [int(h.tag[1]) for h in document.iter("h1", "h2", "h3", "h4", "h5", "h6")]
    assert levels[0] == 1 and levels.count(1) == 1, f"{kind}: {levels}"
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False)), f"{kind}: {levels}"
    schemes = [m.get("content") for m in document.iter("meta") if m.get("name") == "color-scheme"]
    assert schemes == ["light dark"]
    assert "@media (prefers-color-scheme: dark)" in html
    for cell in document.find_class("button-cell"):
        # Outlook drops padding on a link: the cell carries it, and the colour.
        assert re.search(r"padding:\s*12px 20px", cell.get("style") or "")
        assert cell.get("bgcolor")
    preheader = document.find_class("preheader")[0]
    style = (preheader.get("style") or "").replace(" ", "")
    assert "display:none" in style and "mso-hide:all" in style and "color" not in style
    assert len(preheader.text_content().rstrip("\u034f\u200c\xa0")) <= 150


@pytest.mark.parametrize("kind", MEMBER_KINDS)
def test_the_button_link_is_also_there_to_copy(kind: str, every_email: dict[str, bytes]) -> None:
    document = lxml.html.document_fromstring(html_of(every_email[kind]))
    (button,) = document.find_class("button")
    (copyable,) = document.find_class("link-text")
    assert button.get("href") in copyable.text_content()


@pytest.mark.parametrize("kind", LIST_KINDS)
def test_list_mail_says_it_is_bulk_and_automatic(kind: str, every_email: dict[str, bytes]) -> None:
    message = parsed(every_email[kind])
    assert message["Precedence"] == "bulk"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize("kind", MEMBER_KINDS)
def test_mail_a_member_asked_for_is_not_bulk(kind: str, every_email: dict[str, bytes]) -> None:
    message = parsed(every_email[kind])
    assert message["Precedence"] is None and message["List-Id"] is None
    assert message["Auto-Submitted"] == "auto-generated"


@pytest.mark.parametrize(
    ("kind", "list_id"),
    [
        ("alert", "<npq.newsletter.localhost>"),
        ("breaking alert", "<funding.newsletter.localhost>"),
        ("daily digest", "<newsletter.localhost>"),
        ("weekly digest", "<newsletter.localhost>"),
        ("7-day reminder", "<newsletter.localhost>"),
        ("announcement", "<newsletter.localhost>"),
    ],
)
def test_alerts_are_filed_by_topic_and_digests_as_the_newsletter(
    kind: str, list_id: str, every_email: dict[str, bytes]
) -> None:
    assert str(parsed(every_email[kind])["List-Id"]).endswith(list_id)


@pytest.mark.parametrize("kind", KINDS)
def test_encoded_header_lines_fit_76_characters(kind: str, every_email: dict[str, bytes]) -> None:
    head = every_email[kind].split(b"\r\n\r\n", 1)[0].decode("ascii")
    for line in head.split("\r\n"):
        if "=?" in line:
            assert len(line) <= 76, line


@pytest.mark.parametrize(
    ("kind", "follows"),
    [
        ("alert", "You follow NPQ as soon as news is published."),
        ("breaking alert", "You follow Funding in a weekly digest."),
        (
            "daily digest",
            "You follow Funding, Initial teacher training and NPQ in a daily digest.",
        ),
        (
            "weekly digest",
            "You follow Assessment, Careers, Funding, Initial teacher training and NPQ in a "
            "weekly digest.",
        ),
        ("7-day reminder", "You follow Funding as soon as news is published."),
        ("announcement", "You follow Initial teacher training in a weekly digest."),
        ("announcement test copy", "This copy was sent to you by staff"),
    ],
)
def test_the_footer_says_which_of_the_members_topics_brought_it(
    kind: str, follows: str, every_email: dict[str, bytes]
) -> None:
    data = every_email[kind]
    assert follows in words(text_of(data))
    assert follows in words(lxml.html.document_fromstring(html_of(data)).text_content())


def test_breaking_news_no_longer_claims_to_go_to_every_member(
    every_email: dict[str, bytes],
) -> None:
    text = words(text_of(every_email["breaking alert"]))
    assert "every member" not in text
    assert "breaking news goes to everyone who follows its topics" in text


@pytest.mark.parametrize("kind", KINDS)
def test_every_email_carries_the_postal_address(kind: str, every_email: dict[str, bytes]) -> None:
    data = every_email[kind]
    assert f"School Leaders Network, {POSTAL_ADDRESS}" in words(text_of(data))
    assert POSTAL_ADDRESS in html_of(data)


def test_an_alert_says_its_summary_once(every_email: dict[str, bytes]) -> None:
    # The sample's summary is sentences of its body: shown once, in the body.
    text = words(text_of(every_email["breaking alert"]))
    assert text.count("Eligible schools and trusts can now bid for capital funding") == 1


def test_a_spending_date_is_not_shown_as_a_closing_date(every_email: dict[str, bytes]) -> None:
    text = words(text_of(every_email["breaking alert"]))
    assert "[Must be done by 31 March 2028]" in text and "Closes 31 March 2028" not in text


def test_the_reminder_quotes_the_body_not_the_title(every_email: dict[str, bytes]) -> None:
    text = text_of(every_email["7-day reminder"])
    title = "Condition improvement grants: bids close on 18 December"
    assert text.count(title) == 1  # the heading
    assert '"Bids close at 5pm on Friday 18 December 2026."' in text


def test_the_announcement_greets_once(every_email: dict[str, bytes]) -> None:
    data = every_email["announcement"]
    for part in (text_of(data), html_of(data)):
        assert part.count("Dear colleague,") == 1
        assert "Hello" not in part

"""Every kind of email, read back with the stdlib parser: parts, headers, inline CSS, links."""

from __future__ import annotations

import re
from email.headerregistry import Address

import lxml.html
import pytest

from newsletter import links
from newsletter.rendering import KINDS, Recipient
from newsletter.rendering.build import prepare
from newsletter.rendering.environment import TEMPLATE_DIR
from newsletter.rendering.reference import reference_message
from tests.support.rendering import (
    BULK_KINDS,
    SEND_ID,
    hrefs,
    html_of,
    parse,
    raw_header,
    same_html,
    sample_spec,
    text_of,
)

CSS = TEMPLATE_DIR / "email.css"
ANN = Recipient(member_id=12, email="ann@example.com", name="Ann Archer", token_version=3)


@pytest.fixture(autouse=True)
def _https_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_BASE_URL", "https://localhost:8443")


@pytest.mark.parametrize("kind", KINDS)
def test_parses_into_text_then_html_with_the_headers_a_list_needs(kind: str) -> None:
    sent = prepare(sample_spec(kind)).personalise(ANN)
    message = parse(sent.data)

    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in message.iter_parts())
    assert message["From"].addresses[0] == Address("School Leaders Network", "news", "localhost")
    assert message["To"].addresses[0] == Address("Ann Archer", "ann", "example.com")
    assert message["Subject"]
    assert message["Date"].datetime is not None
    assert re.fullmatch(r"<[0-9a-f]{32}@localhost>", message["Message-ID"])
    assert sent.message_id == message["Message-ID"] and sent.to == "ann@example.com"
    assert not message.defects and not any(p.defects for p in message.walk())
    assert b"\n" not in sent.data.replace(b"\r\n", b"")  # CRLF only: smtplib sends as is
    assert max(len(line) for line in sent.data.split(b"\r\n")) <= 998


@pytest.mark.parametrize("kind", BULK_KINDS)
def test_list_mail_has_one_click_unsubscribe_for_its_own_member(kind: str) -> None:
    message = parse(prepare(sample_spec(kind)).personalise(ANN).data)

    both = re.fullmatch(r"<(\S+)>, <(\S+)>", str(message["List-Unsubscribe"]))
    assert both is not None
    url, mailto = both.groups()
    assert url.startswith("https://localhost:8443/unsubscribe/")
    token = url.rpartition("/")[2]
    assert links.read_unsubscribe_token(token) == (12, SEND_ID, 3)
    assert mailto == f"mailto:unsubscribe@localhost?subject=unsubscribe-{token}"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "School Leaders Network <newsletter.localhost>"
    footer = hrefs(html_of(message))
    assert footer["Unsubscribe"] == url
    assert links.read_manage_token(footer["Manage your topics"].rpartition("/")[2]) == (12, 3)
    assert f"Unsubscribe: {url}" in text_of(message)


def test_list_unsubscribe_uris_are_never_encoded_or_split() -> None:
    # Providers read the raw header: an encoded-word or a broken URI loses the one-click button.
    data = prepare(sample_spec("digest")).personalise(ANN).data
    assert re.fullmatch(rb"<https://\S+>,\r\n <mailto:\S+>", raw_header(data, "List-Unsubscribe"))


@pytest.mark.parametrize("kind", ["confirm", "welcome"])
def test_personal_mail_has_no_list_headers(kind: str) -> None:
    message = parse(prepare(sample_spec(kind)).personalise(ANN).data)
    assert message["List-Unsubscribe"] is None
    assert message["List-Unsubscribe-Post"] is None
    assert "Unsubscribe" not in hrefs(html_of(message))


def test_confirm_link_confirms_this_member() -> None:
    message = parse(prepare(sample_spec("confirm")).personalise(ANN).data)
    url = hrefs(html_of(message))["Confirm my subscription"]
    assert url.startswith("https://localhost:8443/confirm/")
    assert links.read_confirm_token(url.rpartition("/")[2]) == (12, 3)
    assert url in text_of(message)


@pytest.mark.parametrize("kind", KINDS)
def test_fast_path_gives_the_same_message_as_rendering_per_member(kind: str) -> None:
    spec = sample_spec(kind)
    fast = parse(prepare(spec).personalise(ANN).data)
    slow = parse(reference_message(spec, ANN))

    # Compared word by word: the stdlib's folding adds spaces of its own (a Subject folded
    # straight after "Subject:" reads back with a leading space; a long List-Unsubscribe is
    # written as encoded-words that read back with extra spaces).
    for header in ("From", "To", "Subject", "List-Id", "List-Unsubscribe", "Auto-Submitted"):
        assert str(fast[header]).split() == str(slow[header]).split(), header
    assert fast["Subject"] == fast["Subject"].strip()
    assert text_of(fast) == text_of(slow)
    assert same_html(html_of(fast)) == same_html(html_of(slow))


@pytest.mark.parametrize("kind", KINDS)
def test_html_has_all_styling_inline(kind: str) -> None:
    html = html_of(parse(prepare(sample_spec(kind)).personalise(ANN).data))
    document = lxml.html.document_fromstring(html)

    # What is left in <style> is only what cannot be inlined: the colour schemes the email
    # supports, and the small-screen and dark-mode overrides.
    (style,) = document.iter("style")
    media = r"@media[^{]*\{(\s*[^{}]+\{[^{}]*\})+\s*\}\s*"
    assert re.fullmatch(rf"\s*:root\s*\{{[^{{}}]*\}}\s*({media})+", style.text)
    styled_classes = set(re.findall(r"^\.([\w-]+) \{", CSS.read_text(), re.M))
    for element in document.iter():
        if set((element.get("class") or "").split()) & styled_classes:
            assert element.get("style"), f"<{element.tag} class={element.get('class')}> no style"
    assert all(a.get("style") for a in document.iter("a"))


@pytest.mark.parametrize("kind", KINDS)
def test_html_is_accessible_and_british(kind: str) -> None:
    document = lxml.html.document_fromstring(
        html_of(parse(prepare(sample_spec(kind)).personalise(ANN).data))
    )
    assert document.get("lang") == "en-GB"
    assert all(table.get("role") == "presentation" for table in document.iter("table"))
    assert all(image.get("alt") is not None for image in document.iter("img"))
    assert all(a.get("href", "").startswith(("https://", "mailto:")) for a in document.iter("a"))
    preheader = document.find_class("preheader")[0]
    assert "display:none" in preheader.get("style").replace(" ", "")


def test_dates_and_badges_are_written_the_british_way() -> None:
    message = parse(prepare(sample_spec("digest")).personalise(ANN).data)
    text, html = text_of(message), html_of(message)
    assert "[NPQ] [Closes 27 March 2026]" in text
    assert "[Assessment] [Takes effect 11 May 2026]" in text
    assert ">Closes 27 March 2026</span>" in html


def test_reminder_says_what_when_and_how_long_is_left() -> None:
    message = parse(prepare(sample_spec("reminder")).personalise(ANN).data)
    assert message["Subject"] == (
        "Closes in 7 days: Revamped National Professional Qualifications open for applications"
    )
    assert "Closes 27 March 2026 (7 days from today)." in text_of(message)


def test_test_send_marks_the_subject() -> None:
    prepared = prepare(sample_spec("alert"))
    normal = parse(prepared.personalise(ANN).data)
    marked = parse(prepared.personalise(ANN, test=True).data)
    assert marked["Subject"] == "[TEST] " + normal["Subject"]
    assert normal["Subject"] == prepared.subject
    assert normal["Subject"].startswith("Breaking: Revamped National")

"""Importers: page captures (tests/fixtures), Markdown with front matter, sanitised HTML."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.articles.capture import chrome_lines
from newsletter.articles.parse import (
    CAPTURE,
    HTML,
    MARKDOWN,
    ParseError,
    detect_format,
    parse_article,
    summarise,
)
from newsletter.models import Priority
from tests.support.fixtures import PAGE_CAPTURE, PAGE_CAPTURE_TITLE

SAMPLE = PAGE_CAPTURE

CHROME = """Home Menu

Association: governance


For governors\u00a0

Join today to get briefings written for governors and trustees.

Help and advice

Our advisers answer questions about the law and your duties.


Latest news\u00a0
"""
FOOTER = "\n\nShare this page\n\nBack to top\n"


def capture(title: str, *body: str, published: str = "02 March 2021") -> str:
    return CHROME + f"\n{title}\n\n" + "\n\n".join(body) + f"\n\nFirst published {published}"


def test_the_sample_capture() -> None:
    article = parse_article(SAMPLE.read_text(encoding="utf-8"), SAMPLE.name)

    assert article.format == CAPTURE
    assert article.title == PAGE_CAPTURE_TITLE
    assert article.first_published == date(2024, 10, 14)
    assert article.body_html.count("<ul>") == 2 and article.body_html.count("<ol>") == 2
    assert "<li>NPQ for Senior Leadership (NPQSL) - for those who are" in article.body_html
    assert "<li>A coach outside their own line management</li>" in article.body_html
    assert "<h2>How the courses are built</h2>" in article.body_html
    assert "<h2>What it costs</h2>" in article.body_html
    for chrome in ("Home Menu", "Can I join?", "Help and advice", "Latest news", "0300 555"):
        assert chrome not in article.body_html
    assert "First published" not in article.body_html
    assert "First published" not in article.text
    assert "\u00a0" not in article.body_html
    assert article.summary.startswith("The Department for Education has confirmed the National")
    assert 20 <= len(article.summary.split()) <= 60


def test_a_capture_of_another_section_uses_its_structure_not_sentences() -> None:
    text = capture(
        "Governor training days for 2021",
        "Our spring programme for governors has been published.",
        "• Finance for governors\n• Safeguarding for trustees",
        "1. Book a place\n2. Tell your clerk",
    )
    article = parse_article(text + FOOTER)

    assert article.title == "Governor training days for 2021"
    assert article.first_published == date(2021, 3, 2)
    assert article.body_html == (
        "<p>Our spring programme for governors has been published.</p>\n"
        "<ul><li>Finance for governors</li><li>Safeguarding for trustees</li></ul>\n"
        "<ol><li>Book a place</li><li>Tell your clerk</li></ol>"
    )
    assert "Share this page" not in article.text and "Back to top" not in article.text


def test_a_capture_without_a_marker_is_cleaned_by_chrome_seen_in_stored_captures() -> None:
    stored = capture("An earlier article", "Its text.")
    text = capture("Clerking survey results", "Most clerks work part time.").replace(
        "Latest news\u00a0\n", ""
    )
    article = parse_article(text, known_chrome=chrome_lines(stored))

    assert article.title == "Clerking survey results"
    assert article.body_html == "<p>Most clerks work part time.</p>"
    assert article.notes  # it says the marker was missing

    # Without captures in the store to learn from, the chrome is (wrongly) the article.
    assert parse_article(text).title == "Home Menu"


def test_recurring_lines_inside_the_article_are_kept() -> None:
    stored = capture("Earlier", "Help and advice")  # a chrome line, but also a subheading here
    text = capture("Later news", "Help and advice", "Ask us anything.")
    article = parse_article(text, known_chrome=chrome_lines(stored))
    assert article.body_html == "<h2>Help and advice</h2>\n<p>Ask us anything.</p>"


def test_a_capture_with_no_title_says_so() -> None:
    with pytest.raises(ParseError, match="no title"):
        parse_article(CHROME + "\n\nFirst published 02 March 2021\n")
    long_paragraph = " ".join(["word"] * 40) + "."
    with pytest.raises(ParseError, match="no title"):
        parse_article(capture(long_paragraph, "More text."))
    with pytest.raises(ParseError, match="no title"):
        parse_article(capture("• a list item", "More text."))


def test_markdown_with_front_matter() -> None:
    text = """---
title: Funding approval for capital bids
summary: Short and to the point.
topics: [funding, Careers]
priority: breaking
first_published: 2021-03-01
source: https://example.org/news/1
---

Bids for **capital** grants close on 19 March 2021.

- one
- two
"""
    article = parse_article(text, "news.md")
    assert article.format == MARKDOWN
    assert article.title == "Funding approval for capital bids"
    assert article.summary == "Short and to the point."
    assert article.topics == ("funding", "careers")
    assert article.priority is Priority.BREAKING
    assert article.first_published == date(2021, 3, 1)
    assert article.source == "https://example.org/news/1"
    assert "<strong>capital</strong>" in article.body_html
    assert "<ul>\n<li>one</li>" in article.body_html
    assert "Bids for capital grants close on 19 March 2021." in article.text.splitlines()


def test_markdown_title_from_the_heading_and_a_derived_summary() -> None:
    words = "Then " + " ".join(f"w{i}" for i in range(38))  # with the first: over 40 words
    text = f"# Careers fair\n\nFirst sentence here. {words}. Third sentence is not needed.\n"
    article = parse_article(text, "fair.md")
    assert article.title == "Careers fair"
    assert "<h1>" not in article.body_html
    assert article.summary == f"First sentence here. {words}."
    assert article.first_published is None


@pytest.mark.parametrize(
    ("front_matter", "message"),
    [
        ("title: [unclosed", "not valid YAML"),
        ("titel: Typo", "unknown front matter field 'titel'"),
        ("title: x\npriority: urgent", "priority 'urgent' must be one of"),
        ("title: x\nfirst_published: someday", "first_published 'someday' is not a date"),
        ("title: x\ntopics: {a: 1}", "'topics' must be a list"),
        ("summary: no title here", "no title"),
    ],
)
def test_bad_front_matter_is_named(front_matter: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_article(f"---\n{front_matter}\n---\n\nBody text.\n")


def test_html_is_sanitised_and_titled() -> None:
    text = """<!doctype html><html><head><title>Site | News</title>
<script>alert('head')</script></head>
<body onload="steal()"><h1 class="x">Exam <em>season</em> update</h1>
<p onclick="steal()">Results day is <a href="javascript:alert(1)">here</a>
and <a href="https://example.org/r" onmouseover="x()">there</a>.</p>
<script>document.cookie</script><style>p {}</style>
<img src="x" onerror="alert(1)"><iframe src="https://evil.example"></iframe>
<p>First published 3 May 2021</p></body></html>"""
    article = parse_article(text)

    assert article.format == HTML
    assert article.title == "Exam season update"
    body = article.body_html
    for bad in ("<script", "onload", "onclick", "onerror", "onmouseover", "javascript:", "iframe"):
        assert bad not in body
    assert "document.cookie" not in body and "alert" not in body
    assert "Site | News" not in body and "<h1" not in body
    assert '<a href="https://example.org/r" rel="noopener noreferrer">there</a>' in body
    assert article.first_published == date(2021, 5, 3)


def test_html_title_falls_back_to_the_title_element() -> None:
    article = parse_article("<html><head><title>Only a title</title></head><p>Text.</p></html>")
    assert article.title == "Only a title"
    with pytest.raises(ParseError, match="no <h1> or <title>"):
        parse_article("<p>No title at all.</p>")


def test_format_is_chosen_by_content() -> None:
    assert detect_format("---\ntitle: x\n---\nbody") == MARKDOWN
    assert detect_format("  <!DOCTYPE html><p>x</p>") == HTML
    assert detect_format("Home Menu\n\nLatest news\n\nTitle") == CAPTURE
    assert detect_format("# Heading", "note.md") == MARKDOWN


def test_empty_text_is_an_error() -> None:
    with pytest.raises(ParseError, match="empty"):
        parse_article(" \n\t\n")


def test_summary_is_about_forty_words_and_cut_when_one_sentence_is_long() -> None:
    long_sentence = " ".join(["word"] * 100) + "."
    summary = summarise([long_sentence])
    assert summary.endswith("…") and len(summary.split()) == 40


@settings(max_examples=300, deadline=None)
@given(st.text(), st.sampled_from(["", "a.txt", "a.md", "a.html"]))
def test_the_parser_never_crashes(text: str, filename: str) -> None:
    try:
        article = parse_article(text, filename)
    except ParseError:
        return
    assert article.title


CAPTURE_PARTS = st.lists(
    st.sampled_from(
        [
            "Latest news", "First published 01 February 2018", "First published", "• item",
            "1. step", "Title line", "A paragraph.", "", "\u00a0", "<p>", "---", "# x",
            "title: y", "Latest news\u00a0",
        ]
    ),
    max_size=25,
).map("\n".join)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(CAPTURE_PARTS)
def test_the_capture_parser_never_crashes_on_capture_like_text(text: str) -> None:
    try:
        article = parse_article(text)
    except ParseError:
        return
    assert article.title and "First published" not in article.text

"""Content from outside made into an email's parts: plain text, greetings, repeats."""

from __future__ import annotations

import pytest

from newsletter.rendering.content import greeting_of, html_to_text, markdown_html, repeats


def test_markdown_becomes_plain_text_not_markdown() -> None:
    html = markdown_html(
        "## Key dates\n\nBids **close** on _Friday_. [Apply here](https://example.org/apply).\n\n"
        "* First point\n* Second point\n\n1. One\n2. Two\n\n> Quoted words"
    )
    assert html_to_text(html) == (
        "Key dates\n=========\n\n"
        "Bids close on Friday. Apply here (https://example.org/apply).\n\n"
        "• First point\n• Second point\n\n"
        "1. One\n2. Two\n\n"
        "    Quoted words"
    )


def test_text_is_wrapped_at_72_but_a_url_is_never_broken() -> None:
    url = "https://www.gov.uk/government/publications/" + "x" * 60
    text = html_to_text(f"<p>{'word ' * 40}</p><p>See {url} now.</p>")
    assert all(len(line) <= 72 or url in line for line in text.split("\n"))
    assert url in text


@pytest.mark.parametrize(
    ("body", "greeting"),
    [
        ("<p>Dear colleague,</p><p>News.</p>", "Dear colleague,"),
        ("<p>Good morning everyone!</p><p>News.</p>", "Good morning everyone!"),
        ("<p>Hi-vis jackets are needed on site:</p><p>News.</p>", ""),
        ("<p>Hello. This is long news about funding.</p>", ""),
        ("<p>Dear colleague, the deadline is near and we urge you to apply now.</p>", ""),
    ],
)
def test_a_body_that_greets_is_recognised(body: str, greeting: str) -> None:
    assert greeting_of(body) == greeting


def test_a_summary_made_of_the_bodys_sentences_repeats_it() -> None:
    body = "<p>Schools can bid now.</p><h2>Dates</h2><p>About £450 million is available.</p>"
    assert repeats("Schools can bid now. About £450 million is available.", body)
    assert repeats("Schools can bid now. About £450…", body)
    assert not repeats("A new fund opens for schools.", body)

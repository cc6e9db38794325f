"""A long digest stays under Gmail's clipping size and ends with the rest on the website."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest

from newsletter.rendering import ArticleView, DeadlineView, Recipient, TopicGroup, prepare_digest
from newsletter.rendering.emails import DIGEST_HTML_BUDGET
from tests.support.rendering import html_of, parse, text_of

ANN = Recipient(12, "ann.archer@example.com", "Ann Archer", 3, (("Funding", "weekly"),))
TOPICS = [("assessment", "Assessment"), ("careers", "Careers"), ("funding", "Funding"),
          ("itt", "Initial teacher training"), ("npq", "NPQ")]  # fmt: skip
START = date(2026, 11, 23)


def groups(count: int, title_words: int = 12) -> list[TopicGroup]:
    """`count` articles spread over five topics, each with a full summary and two deadlines."""
    found: dict[str, list[ArticleView]] = {slug: [] for slug, _ in TOPICS}
    for number in range(1, count + 1):
        slug, name = TOPICS[number % len(TOPICS)]
        found[slug].append(
            ArticleView(
                id=number,
                title=f"Article {number}: " + " ".join(["guidance"] * title_words),
                summary=("Schools should read the new guidance before the spring term. " * 6),
                body_html="",
                url=f"http://localhost:8000/articles/{number}",
                topics=[name],
                deadlines=[
                    DeadlineView(START + timedelta(days=30), "day", "closes"),
                    DeadlineView(START + timedelta(days=60), "day", "effective"),
                ],
                first_published=START + timedelta(days=number % 7),
            )
        )
    return [TopicGroup(slug, name, found[slug]) for slug, name in TOPICS]


@pytest.mark.parametrize("title_words", [12, 60])
def test_an_80_article_digest_stays_under_90_kb_and_ends_with_the_rest_and_the_footer(
    title_words: int,
) -> None:
    message = parse(
        prepare_digest("weekly", groups(80, title_words), send_id=7).personalise(ANN).data
    )
    html = html_of(message)

    assert len(html.encode("utf-8")) < DIGEST_HTML_BUDGET == 90_000
    document = lxml.html.document_fromstring(html)
    shown = len(document.find_class("article"))
    links = [(" ".join(a.text_content().split()), a.get("href")) for a in document.iter("a")]
    more = f"And {80 - shown} more on the website"
    assert 0 < shown < 80
    # After the articles: the rest on the website, then the footer, unsubscribe last.
    assert [text for text, _ in links[-3:]] == [more, "Manage your topics", "Unsubscribe"]
    assert "/unsubscribe/" in links[-1][1]
    archive = urlsplit(links[-3][1])
    assert archive.path == "/articles"
    assert parse_qs(archive.query) == {
        "topic": [slug for slug, _ in TOPICS],
        "since": ["2026-11-23"],
        "until": ["2026-11-29"],
    }
    assert f"{more}:\n{links[-3][1]}" in text_of(message)


def test_a_short_digest_shows_everything_and_no_link() -> None:
    html = html_of(parse(prepare_digest("weekly", groups(8), send_id=7).personalise(ANN).data))
    assert len(lxml.html.document_fromstring(html).find_class("article")) == 8
    assert "more on the website" not in html


def test_the_articles_shown_are_shared_between_the_topics() -> None:
    html = html_of(parse(prepare_digest("weekly", groups(80), send_id=7).personalise(ANN).data))
    document = lxml.html.document_fromstring(html)
    sections = [h2.text_content() for h2 in document.iter("h2")]
    assert sections == [name for _, name in TOPICS]  # no topic pushed out by the others


def test_past_the_byte_budget_fewer_articles_are_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    # Long titles and summaries can fill the budget before the article count does.
    monkeypatch.setattr("newsletter.rendering.emails.DIGEST_HTML_BUDGET", 30_000)
    html = html_of(parse(prepare_digest("weekly", groups(80), send_id=7).personalise(ANN).data))
    shown = len(lxml.html.document_fromstring(html).find_class("article"))
    assert len(html.encode("utf-8")) < 30_000
    assert f"And {80 - shown} more on the website" in html

"""ArticleView.from_model: what an email shows of a stored article."""

from __future__ import annotations

from datetime import date

from newsletter.models import (
    Article,
    ArticleTopic,
    DatePrecision,
    Deadline,
    DeadlineKind,
    Priority,
)
from newsletter.rendering import ArticleView, DeadlineView


def test_a_stored_article_becomes_a_view_with_assigned_topics_only() -> None:
    article = Article(
        id=7,
        title="NPQ funding",
        summary="",
        body_html="<p>Body</p>",
        first_published=date(2026, 3, 2),
        priority=Priority.BREAKING,
    )
    article.topics = [
        ArticleTopic(topic_id=1, assigned=True),
        ArticleTopic(topic_id=2, assigned=False),  # scored but not assigned
        ArticleTopic(topic_id=3, assigned=True),
    ]
    article.deadlines = [
        Deadline(date=date(2026, 3, 27), precision=DatePrecision.DAY, kind=DeadlineKind.CLOSES)
    ]

    view = ArticleView.from_model(article, {1: "NPQ", 2: "Careers", 3: "Funding"})

    assert view.url == "http://localhost:8000/articles/7"
    assert view.topics == ["NPQ", "Funding"]
    assert view.deadlines == [DeadlineView(date(2026, 3, 27), "day", "closes", "")]
    assert view.deadlines[0].label == "Closes 27 March 2026"
    assert view.is_breaking and view.priority == "breaking"
    assert view.published_label == "2 March 2026"
    assert view.badge_labels == ["NPQ", "Funding", "Closes 27 March 2026"]

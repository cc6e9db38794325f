"""The article store on SQLite and PostgreSQL: idempotent import, tagging with evidence,
publish dispatching only after commit, withdraw cancelling sends, staff overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from newsletter.articles.store import (
    ArticleError,
    describe,
    describe_full,
    get_article,
    import_article,
    publish_article,
    set_priority,
    set_topics,
    withdraw_article,
)
from newsletter.db import session_scope
from newsletter.models import (
    Article,
    ArticleStatus,
    Delivery,
    DeliveryStatus,
    Member,
    Priority,
    Send,
    SendKind,
    SendStatus,
)
from tests.support.fixtures import PAGE_CAPTURE, PAGE_CAPTURE_TITLE

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = PAGE_CAPTURE
PROJECT_SAMPLES = sorted((ROOT / "samples" / "articles").iterdir())


def article_count(db_url: str) -> int:
    with session_scope(db_url) as session:
        return session.scalar(select(func.count(Article.id))) or 0


def test_the_sample_capture_is_imported_once(db_url: str) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    with session_scope(db_url) as session:
        first = import_article(session, text, filename=SAMPLE.name, source=str(SAMPLE))
        shown = describe_full(first.article)
    assert first.created
    assert shown["title"] == PAGE_CAPTURE_TITLE
    assert shown["first_published"] == "2024-10-14"
    assert shown["topics"][0] == "npq"
    assert shown["topic_scores"][0]["evidence"][0]["phrase"] == "NPQ"
    assert [(d["date"], d["kind"]) for d in shown["deadlines"]] == [
        ("2025-01-06", "opens"),
        ("2025-03-28", "closes"),
    ]
    assert "<ul>" in shown["body_html"] and "<ol>" in shown["body_html"]
    assert "Can I join?" not in shown["body_html"]
    assert "First published" not in shown["body_html"]
    assert shown["status"] == "draft" and shown["priority"] == "normal"

    # Same content with other line endings is the same article.
    with session_scope(db_url) as session:
        again = import_article(session, text.replace("\n", "\r\n") + "\n\n")
    assert not again.created and again.article.id == first.article.id
    assert article_count(db_url) == 1


@pytest.mark.parametrize("path", PROJECT_SAMPLES, ids=lambda p: p.name)
def test_each_project_sample_lands_on_its_topic_first(db_url: str, path: Path) -> None:
    expected = path.name.split("-")[0]
    with session_scope(db_url) as session:
        outcome = import_article(session, path.read_text(encoding="utf-8"), filename=path.name)
        shown = describe_full(outcome.article)
    assert shown["topics"][0] == expected
    best = shown["topic_scores"][0]
    assert best["topic"] == expected and best["assigned"] and best["evidence"]
    assert shown["first_published"] is not None
    assert shown["deadlines"], "each sample has real-looking dates"


def test_project_samples_cover_every_topic_and_both_forms() -> None:
    topics = {p.name.split("-")[0] for p in PROJECT_SAMPLES}
    assert topics == {"assessment", "funding", "itt", "careers", "npq"}
    assert {p.suffix for p in PROJECT_SAMPLES} == {".txt", ".md"}


def test_a_closing_date_soon_after_publication_suggests_breaking(db_url: str) -> None:
    text = "---\ntitle: Grants\nfirst_published: 2021-03-01\n---\n\nBids close on 19 March 2021.\n"
    with session_scope(db_url) as session:
        article = import_article(session, text).article
        assert article.priority is Priority.BREAKING
        assert article.priority_reason.startswith("suggested: closes 2021-03-19, 18 days")
        set_priority(session, article.id, Priority.NORMAL)
    with session_scope(db_url) as session:
        article = get_article(session, article.id)
        assert article.priority is Priority.NORMAL
        assert article.suggested_priority is Priority.BREAKING
        assert article.priority_reason.startswith("staff chose normal (suggested breaking")


def test_staff_breaking_and_topics_replace_the_automatic_ones(db_url: str) -> None:
    with session_scope(db_url) as session:
        outcome = import_article(
            session, SAMPLE.read_text(encoding="utf-8"), topics=["careers"], breaking=True
        )
        shown = describe_full(outcome.article)
    assert shown["topics"] == ["careers"]
    assert shown["priority"] == "breaking" and shown["priority_reason"] == "staff chose breaking"
    scores = {row["topic"]: row for row in shown["topic_scores"]}
    assert scores["careers"]["manual"] and scores["careers"]["score"] == 0.0
    assert not scores["npq"]["assigned"] and scores["npq"]["score"] > 0  # evidence is kept

    with session_scope(db_url) as session:
        set_topics(session, outcome.article.id, ["npq", "funding"])
    with session_scope(db_url) as session:
        assert describe(get_article(session, outcome.article.id))["topics"] == ["npq", "funding"]


def test_an_unknown_topic_stores_nothing(db_url: str) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    with pytest.raises(ArticleError, match="unknown topic 'astrology'"), session_scope(db_url) as s:
        import_article(s, text, topics=["astrology"])
    assert article_count(db_url) == 0


def test_stored_captures_teach_the_chrome_of_a_capture_without_a_marker(db_url: str) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    chrome, _, _ = text.partition("Latest news")
    unmarked = chrome + "\nA second article\n\nIts only paragraph.\n\nFirst published 03 March 2025"
    with session_scope(db_url) as session:
        import_article(session, text)
        second = import_article(session, unmarked)
        assert second.article.title == "A second article"
        assert second.article.body_html == "<p>Its only paragraph.</p>"
        assert second.notes


def test_publish_dispatches_after_the_commit_and_never_on_rollback(db_url: str) -> None:
    seen: list[tuple[int, ArticleStatus]] = []

    def notify(article_id: int) -> None:
        # A separate session, as a worker would have: it must already see the article published.
        with session_scope(db_url) as other:
            seen.append((article_id, get_article(other, article_id).status))

    with session_scope(db_url) as session:
        article_id = import_article(session, SAMPLE.read_text(encoding="utf-8")).article.id

    with pytest.raises(RuntimeError), session_scope(db_url) as session:
        publish_article(session, article_id, notify=notify)
        raise RuntimeError("something failed before the commit")
    assert seen == []

    with session_scope(db_url) as session:
        assert publish_article(session, article_id, notify=notify) is True
        assert seen == []  # not before the commit
    assert seen == [(article_id, ArticleStatus.PUBLISHED)]

    with session_scope(db_url) as session:
        published_at = get_article(session, article_id).published_at
        assert published_at is not None
        assert publish_article(session, article_id, notify=notify) is False
    with session_scope(db_url) as session:
        assert get_article(session, article_id).published_at == published_at
    assert len(seen) == 2  # queued again: delivery is idempotent, so this only recovers


def test_import_with_publish_dispatches_once_per_new_publish(db_url: str) -> None:
    seen: list[int] = []
    text = SAMPLE.read_text(encoding="utf-8")
    with session_scope(db_url) as session:
        outcome = import_article(session, text, publish=True, notify=seen.append)
    assert outcome.published and seen == [outcome.article.id]
    with session_scope(db_url) as session:
        again = import_article(session, text, publish=True, notify=seen.append)
    assert not again.created and not again.published and seen == [outcome.article.id]


def test_withdraw_cancels_only_the_sends_that_have_not_started(db_url: str) -> None:
    with session_scope(db_url) as session:
        text = "---\ntitle: T\nfirst_published: 2021-03-01\n---\n\nBids close on 19 March 2021.\n"
        article = import_article(session, text).article
        member = Member(email="ann@example.com")
        session.add(member)
        at = datetime(2021, 3, 12, 8, tzinfo=UTC)
        scheduled = Send(kind=SendKind.ANNOUNCEMENT, article_id=article.id, scheduled_at=at)
        reminder = Send(kind=SendKind.REMINDER, deadline_id=article.deadlines[0].id)
        started = Send(kind=SendKind.ALERT, article_id=article.id, status=SendStatus.SENDING)
        other = Send(kind=SendKind.ANNOUNCEMENT, scheduled_at=at)
        session.add_all([scheduled, reminder, started, other])
        session.flush()
        session.add_all(
            [Delivery(send_id=s.id, member_id=member.id) for s in (scheduled, started, other)]
        )
        session.flush()
        sends = {"scheduled": scheduled, "reminder": reminder, "started": started, "other": other}
        ids = {name: send.id for name, send in sends.items()}

    with session_scope(db_url) as session:
        assert withdraw_article(session, article.id) == 2
    with session_scope(db_url) as session:
        status = {name: session.get_one(Send, i).status for name, i in ids.items()}
        deliveries = dict(session.execute(select(Delivery.send_id, Delivery.status)).all())
        assert get_article(session, article.id).status is ArticleStatus.WITHDRAWN
    assert status == {
        "scheduled": SendStatus.CANCELLED,
        "reminder": SendStatus.CANCELLED,
        "started": SendStatus.SENDING,
        "other": SendStatus.SCHEDULED,
    }
    assert deliveries == {
        ids["scheduled"]: DeliveryStatus.CANCELLED,
        ids["started"]: DeliveryStatus.PENDING,
        ids["other"]: DeliveryStatus.PENDING,
    }


def test_dates_past_at_first_publication_are_not_stored(db_url: str) -> None:
    text = (
        "---\ntitle: Review\nfirst_published: 2020-12-10\n---\n\n"
        "On 3 December 2020, the Department announced a review. "
        "Responses are due by 29 January 2021.\n"
    )
    with session_scope(db_url) as session:
        shown = describe(import_article(session, text, today=date(2030, 1, 1)).article)
    assert [(d["date"], d["kind"]) for d in shown["deadlines"]] == [("2021-01-29", "closes")]

"""The staff console: dashboard, articles, announcements, and that every change is audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.db import session_scope
from newsletter.delivery import jobs
from newsletter.inline import inline
from newsletter.models import Article, ArticleStatus, AuditEvent, Send, SendStatus
from tests.support.console import post
from tests.support.delivery_data import add_article, add_member
from tests.web.helpers import csrf_of, sent_to

ARTICLE = """# Funding boost for SEND support in schools

Schools will receive additional high needs funding from April 2027. The funding rise
covers special educational needs support and the budget for SENCO release time.
Applications for the capital grant close on 30 January 2027.
"""


def audited(db_url: str, action: str) -> list[AuditEvent]:
    with session_scope(db_url) as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == action))
        return [e for e in events]


def test_dashboard_shows_sends_with_counts_and_charts(comms: TestClient, db_url: str) -> None:
    with session_scope(db_url) as session:
        add_member(session, "ann@example.com", {"funding": "immediate"})
        add_member(session, "bob@example.com", {"funding": "immediate"})
        article_id = add_article(session, "Funding news", ["funding"]).id
    with inline():
        send_id = jobs.alert(article_id).send_id

    page = comms.get("/staff")

    assert page.status_code == 200
    assert "Funding news" in page.text
    assert f'data-send-id="{send_id}"' in page.text
    assert page.text.count("<svg") >= 2  # emails per day, subscribers per topic
    assert "Funding (2)" in page.text  # the chart's legend: two emails about funding
    live = comms.get(f"/staff/progress.json?ids={send_id}").json()
    assert live[str(send_id)]["counts"]["sent"] == 2


def test_an_article_is_pasted_reviewed_and_published(comms: TestClient, db_url: str) -> None:
    imported = post(comms, "/staff/articles/new", "/staff/articles/new", {"text": ARTICLE})
    assert imported.status_code == 200 and "Imported" in imported.text
    assert "Funding boost for SEND support" in imported.text
    assert "points)" in imported.text  # the evidence behind the suggested topics
    article_url = str(imported.url).split("?")[0]
    article_id = int(article_url.rsplit("/", 1)[1])

    topics = post(comms, article_url, f"{article_url}/topics", {"topic": ["funding", "npq"]})
    assert "Topics saved" in topics.text
    priority = post(comms, article_url, f"{article_url}/priority", {"priority": "breaking"})
    assert "Priority saved" in priority.text
    published = post(comms, article_url, f"{article_url}/publish", {})
    assert "Published" in published.text

    with session_scope(db_url) as session:
        article = session.get(Article, article_id)
        assert article is not None and article.status == ArticleStatus.PUBLISHED
        assigned = sorted(t.topic.slug for t in article.topics if t.assigned)
        assert assigned == ["funding", "npq"]
    assert {e.actor for e in audited(db_url, "article.publish")} == {"staff:comms@example.org"}

    post(comms, article_url, f"{article_url}/withdraw", {})
    assert comms.get(f"/articles/{article_id}").status_code == 404


def test_article_problems_are_named_beside_the_field(comms: TestClient) -> None:
    empty = post(comms, "/staff/articles/new", "/staff/articles/new", {"source": "somewhere"})
    assert empty.status_code == 400
    assert "Choose a file, or paste the article" in empty.text
    assert 'value="somewhere"' in empty.text

    token = csrf_of(comms.get("/staff/articles/new").text)
    binary = comms.post(
        "/staff/articles/new",
        data={"csrf_token": token},
        files={"file": ("photo.html", b"\x89PNG\x00\x00\x01binary", "text/html")},
    )
    assert binary.status_code == 400 and "cannot be imported" in binary.text


def test_uploads_over_5_mb_are_refused_before_they_are_read(comms: TestClient) -> None:
    token = csrf_of(comms.get("/staff/articles/new").text)
    big = b"a" * (5 * 1024 * 1024 + 1)
    response = comms.post(
        "/staff/articles/new",
        data={"csrf_token": token},
        files={"file": ("big.txt", big, "text/plain")},
    )
    assert response.status_code == 413

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(6):
            yield b"b" * (1024 * 1024)

    # No Content-Length: the body is counted as it streams in.
    streamed = comms.post(
        "/staff/articles/new",
        content=chunks(),
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert streamed.status_code == 413


def test_an_announcement_is_previewed_tested_scheduled_and_cancelled(
    comms: TestClient, db_url: str
) -> None:
    with session_scope(db_url) as session:
        add_member(session, "ann@example.com", {"npq": "weekly"}, role="SENCO")
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    draft = {
        "subject": "Spring conference",
        "body": "Book your place at the **spring conference**.",
        "topic": ["npq"],
        "date": day.isoformat(),
        "time": "09:30",
        "preview_for": "ann@example.com",
    }

    preview = post(comms, "/staff/sends/new", "/staff/sends/preview", draft)
    assert preview.status_code == 200
    assert "<strong>spring conference</strong>" in preview.text
    assert "Sam" in preview.text  # comms staff preview as the sample member, not Ann
    assert "default-src 'none'" in preview.headers["content-security-policy"]

    tested = post(comms, "/staff/sends/new", "/staff/sends/test", draft)
    assert "A test copy is on its way to comms@example.org" in tested.text
    assert 'value="Spring conference"' in tested.text  # the draft is kept
    [test_copy] = sent_to("comms@example.org")
    assert test_copy["Subject"] == "[TEST] Spring conference"

    scheduled = post(comms, "/staff/sends/new", "/staff/sends", draft)
    assert scheduled.status_code == 200 and "Scheduled" in scheduled.text
    assert "Would reach now" in scheduled.text
    with session_scope(db_url) as session:
        send = session.scalar(select(Send))
        assert send is not None and send.status == SendStatus.SCHEDULED
        london = send.scheduled_at.astimezone(ZoneInfo("Europe/London"))  # type: ignore[union-attr]
        assert (london.date(), london.strftime("%H:%M")) == (day, "09:30")
        send_id = send.id

    assert comms.get(f"/staff/sends/{send_id}/preview").status_code == 200
    page = f"/staff/sends/{send_id}"
    cancelled = post(comms, page, f"{page}/cancel", {})
    assert "Cancelled" in cancelled.text
    again = post(comms, page, f"{page}/cancel", {})
    assert again.status_code == 409 and "can no longer be cancelled" in again.text


def test_compose_problems_are_shown_beside_the_fields(comms: TestClient) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    page = post(
        comms,
        "/staff/sends/new",
        "/staff/sends",
        {"subject": "", "body": "Hello <there>", "date": yesterday, "time": "25:99"},
    )
    assert page.status_code == 400
    assert "Enter a subject" in page.text
    assert "Choose at least one topic" in page.text
    assert "Enter a time, like 09:30" in page.text
    assert "Hello &lt;there&gt;" in page.text

"""An article body is cleaned when it is written, whatever writes it, so pages show it as stored."""

from __future__ import annotations

from fastapi.testclient import TestClient

from newsletter.db import session_scope
from newsletter.models import Article, ArticleStatus, utcnow


def test_a_script_stored_behind_the_importers_back_is_inert(
    client: TestClient, db_url: str
) -> None:
    with session_scope(db_url) as session:
        article = Article(
            title="Written straight into the table",
            body_html='<p onclick="steal()">Hello</p><script>steal()</script>'
            '<a href="javascript:steal()">link</a>',
            status=ArticleStatus.PUBLISHED,
            published_at=utcnow(),
            content_hash="x" * 64,
        )
        session.add(article)
        session.flush()
        article_id = article.id

    page = client.get(f"/articles/{article_id}")

    assert page.status_code == 200
    assert "Hello" in page.text
    assert "<script>steal()" not in page.text
    assert "onclick" not in page.text
    assert "javascript:" not in page.text

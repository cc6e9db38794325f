"""Finding 3: the sanitiser's cost is bounded. HTML nested deeper than any article is refused
at import with one line saying so (its cleaning cost grew with the square of the depth), and
the public page shows the body cleaned when it was stored instead of cleaning it per view."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from newsletter.articles.parse import ParseError, parse_article
from newsletter.cli import app
from newsletter.db import session_scope
from newsletter.models import Article, ArticleStatus, utcnow

runner = CliRunner()


def test_deeply_nested_html_is_refused_at_import_with_one_line(db_url: str, tmp_path: Path) -> None:
    deep = tmp_path / "deep.html"
    deep.write_text("<h1>Deep</h1>" + "<div>" * 5000 + "text" + "</div>" * 5000)

    result = runner.invoke(app, ["articles", "import", str(deep)])

    assert result.exit_code == 1
    assert "nests elements more than 100 deep" in result.output
    assert "Traceback" not in result.output
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 0


def test_deeply_nested_markdown_is_refused_not_a_crash() -> None:
    with pytest.raises(ParseError, match="nests quotes or lists 8,000 deep"):
        parse_article("# Quotes\n\n" + ">" * 8000 + " text\n", "quotes.md")


def test_an_ordinary_nested_article_still_imports() -> None:
    html = "<h1>T</h1>" + "<div><ul><li><p>x" * 20 + "</p></li></ul></div>" * 20
    assert "x" in parse_article(html, "ok.html").body_html


def test_the_article_page_shows_the_stored_body_without_cleaning_it_again(
    client: TestClient, db_url: str
) -> None:
    with session_scope(db_url) as session:
        article = Article(
            title="Stored once",
            body_html="<p>Body</p>",
            status=ArticleStatus.PUBLISHED,
            published_at=utcnow(),
            content_hash="s" * 64,
        )
        session.add(article)
        session.flush()
        article_id = article.id
        # What the importer stored, marked so that a second cleaning would show (it drops
        # attributes outside the allow-list).
        stored = '<p data-stored="once">Body</p>'
        session.execute(update(Article).where(Article.id == article_id).values(body_html=stored))

    page = client.get(f"/articles/{article_id}")

    assert page.status_code == 200
    assert stored in page.text

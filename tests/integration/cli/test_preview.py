"""`newsletter preview`: every kind renders, from sample content or from the database."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import get_settings
from newsletter.delivery import jobs
from newsletter.inline import inline
from newsletter.models import (
    Article,
    ArticleStatus,
    ArticleTopic,
    DatePrecision,
    Deadline,
    DeadlineKind,
    Frequency,
    Subscription,
    Topic,
)
from newsletter.rendering import KINDS
from newsletter.rendering.previews import MEMBER_KINDS
from newsletter.web.app import create_app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_previews_with_sample_content_on_an_empty_database(
    db_url: str, tmp_path: Path, kind: str
) -> None:
    html_file, eml_file = tmp_path / f"{kind}.html", tmp_path / f"{kind}.eml"
    code, out, err = run("preview", kind, "--out", str(html_file), "--eml", str(eml_file))

    assert code == 0, err
    assert f"Wrote {html_file}" in out
    message = message_from_bytes(eml_file.read_bytes(), policy=policy.default)
    assert html_file.read_text().startswith("<!DOCTYPE html>")
    if kind in MEMBER_KINDS:  # sent to whoever typed the address: no name
        assert str(message["To"]) == "sam.sample@example.com"
        assert "Hello," in html_file.read_text() and "Sam" not in html_file.read_text()
    else:
        assert str(message["To"]) == "Sam Sample <sam.sample@example.com>"
        assert "Hello Sam Sample," in html_file.read_text()


@pytest.mark.parametrize("kind", KINDS)
def test_the_sample_members_links_lead_to_no_real_member(db_url: str, kind: str) -> None:
    """Member #1 exists, with the first link version: a preview's links still reach nobody."""
    code, _, err = run("members", "add", "ann@example.com", "--topic", "funding=weekly")
    assert code == 0, err
    code, out, err = run("preview", kind)
    assert code == 0, err
    ours = re.escape(get_settings().BASE_URL)
    paths = [urlsplit(url).path for url in re.findall(ours + r"/[a-z/]+/[\w.-]+", out)]
    member_links = [p for p in paths if not p.startswith("/articles/")]
    assert member_links or kind == "address-changed"  # which shows no link of ours
    with TestClient(create_app()) as client:
        for path in member_links:
            page = client.get(path)
            assert page.status_code == 400 and "This link is not valid" in page.text, path


def test_preview_prints_the_text_part_without_files(db_url: str) -> None:
    code, out, _ = run("preview", "reminder")
    assert code == 0
    assert "Subject: Closes in" in out
    assert "Hello Sam Sample," in out


def add_article(session: Session, title: str, topic_slug: str) -> Article:
    topic = session.scalar(select(Topic).where(Topic.slug == topic_slug))
    assert topic is not None
    article = Article(
        title=title,
        summary="What members need to know.",
        content_hash=title,
        status=ArticleStatus.PUBLISHED,
        published_at=datetime(2026, 3, 2, tzinfo=UTC),
        first_published=date(2026, 3, 2),
    )
    article.topics.append(ArticleTopic(topic_id=topic.id, assigned=True, score=1.0))
    article.deadlines.append(
        Deadline(date=date(2099, 3, 27), precision=DatePrecision.DAY, kind=DeadlineKind.CLOSES)
    )
    session.add(article)
    session.flush()
    return article


def test_preview_uses_the_member_and_articles_from_the_database(
    db_url: str, session: Session
) -> None:
    funding = add_article(session, "Funding <rates> for 2099", "funding")
    add_article(session, "Careers fair", "careers")
    session.commit()
    code, _, err = run(
        "members", "add", "ann@example.com", "--name", "Ann Archer", "--topic", "funding=weekly"
    )
    assert code == 0, err
    subscribed_before_the_articles(session)

    code, out, err = run("preview", "digest", "--member", "ann@example.com")
    assert code == 0, err
    assert "Hello Ann Archer," in out
    assert "Funding <rates> for 2099" in out and "[Funding] [Closes 27 March 2099]" in out
    assert "Careers fair" not in out  # not one of Ann's topics

    code, out, err = run("preview", "reminder", "--article", str(funding.id))
    assert code == 0, err
    assert "Closes 27 March 2099" in out and "Funding <rates> for 2099" in out

    code, out, _ = run("preview", "welcome", "--member", "ann@example.com")
    assert "Funding: in a weekly digest" in out

    code, out, _ = run("preview", "manage-link", "--member", "ann@example.com")
    assert code == 0 and "Manage your emails:" in out and "/manage/" in out


def subscribed_before_the_articles(session: Session) -> None:
    session.execute(update(Subscription).values(created_at=datetime(2026, 1, 1, tzinfo=UTC)))
    session.commit()


def test_digest_preview_is_exactly_the_members_next_digest(db_url: str, session: Session) -> None:
    """Chloë takes Funding at once and NPQ weekly: her weekly digest holds NPQ news only, and
    not what she has already had."""
    add_article(session, "Capital grants open", "funding")
    add_article(session, "NPQ spring cohort", "npq")
    add_article(session, "NPQ scholarships", "npq")
    session.commit()
    code, _, err = run(
        "members", "add", "chloe@example.com", "--name", "Chloë",
        "--topic", "funding=immediate", "--topic", "npq=weekly",
    )  # fmt: skip
    assert code == 0, err
    subscribed_before_the_articles(session)

    code, out, err = run("preview", "digest", "--member", "chloe@example.com")
    assert code == 0, err
    assert "NPQ spring cohort" in out and "NPQ scholarships" in out
    assert "Capital grants open" not in out
    assert "You follow NPQ in a weekly digest." in " ".join(out.split())

    with inline():
        jobs.digest(Frequency.WEEKLY)
    code, out, _ = run("preview", "digest", "--member", "chloe@example.com")
    assert code == 0
    assert "next weekly digest would be empty" in out  # she has had them now


def test_digest_preview_of_a_member_without_a_digest_says_so(db_url: str) -> None:
    code, _, err = run("members", "add", "dan@example.com", "--topic", "npq=immediate")
    assert code == 0, err
    code, _, err = run("preview", "digest", "--member", "dan@example.com")
    assert code == 1
    assert "dan@example.com gets no digest" in " ".join(err.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["preview", "newsletter"], "unknown kind of email 'newsletter'"),
        (["preview", "alert", "--article", "999"], "no article with id 999"),
        (["preview", "alert", "--member", "nobody@example.com"], "no member with email"),
        (["preview", "alert", "--member", "not-an-address"], "invalid email address"),
    ],
)
def test_bad_input_is_named(db_url: str, args: list[str], message: str) -> None:
    code, _, err = run(*args)
    assert code == 1
    assert message in " ".join(err.split())

"""`newsletter preview KIND`: any email, for any member, with sample content where none is given."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.cli.common import USAGE_ERROR, console, fail, open_session
from newsletter.config import ConfigError
from newsletter.members import MemberError, find_member, normalise_email
from newsletter.models import Article, ArticleStatus, ArticleTopic, Member, Topic
from newsletter.preferences import chosen_topics
from newsletter.rendering import (
    KINDS,
    ArticleView,
    Recipient,
    RecipientError,
    TemplateError,
    TopicGroup,
)
from newsletter.rendering.previews import as_sent, decoded_part, prepare_preview, write_preview
from newsletter.rendering.samples import SAMPLE_RECIPIENT

DIGEST_SIZE = 8


def preview(
    kind: str = typer.Argument(..., help=f"One of: {', '.join(KINDS)}."),
    article_id: int | None = typer.Option(
        None, "--article", help="Article id (default: sample articles)."
    ),
    member_email: str | None = typer.Option(
        None,
        "--member",
        help="Member's email address (default: a fictional member, whose links lead nowhere).",
    ),
    out: Path | None = typer.Option(None, "--out", help="Write the HTML part to this file."),
    eml: Path | None = typer.Option(None, "--eml", help="Write the whole message to this file."),
) -> None:
    """Render an email as a member would get it; prints the text part unless --out/--eml."""
    if kind not in KINDS:
        fail(f"unknown kind of email {kind!r} (expected one of {', '.join(KINDS)})")
    with open_session() as session:
        member = _member(session, member_email) if member_email else None
        article = _article(session, article_id) if article_id is not None else None
        recipient = as_sent(kind, _recipient(member) if member else SAMPLE_RECIPIENT)
        try:
            prepared = prepare_preview(
                kind,
                article=article,
                groups=_digest_groups(session, member, article) if kind == "digest" else None,
                topics=chosen_topics(session, member) if member else None,
            )
            message = prepared.personalise(recipient)
        except (TemplateError, RecipientError, ConfigError) as exc:
            fail(str(exc))
    if out is None and eml is None:
        to = f"{recipient.name} <{recipient.email}>" if recipient.name else recipient.email
        for label, value in (("Subject", prepared.subject), ("To", to)):
            console.print(f"[bold]{label}:[/] {escape(value)}", soft_wrap=True, highlight=False)
        typer.echo(decoded_part(message, "plain"))
        return
    try:
        write_preview(message, out, eml)
    except OSError as exc:
        fail(f"cannot write {exc.filename}: {exc.strerror or exc}", code=USAGE_ERROR)
    for path in (out, eml):
        if path is not None:
            console.print(f"Wrote {path}", soft_wrap=True, highlight=False)


def _member(session: Session, email: str) -> Member:
    try:
        member = find_member(session, normalise_email(email))
    except MemberError as exc:
        fail(str(exc))
    if member is None:
        fail(f"no member with email {email!r}")
    return member


def _article(session: Session, article_id: int) -> ArticleView:
    article = session.get(Article, article_id)
    if article is None:
        fail(f"no article with id {article_id}")
    return ArticleView.from_model(article, _topic_names(session))


def _recipient(member: Member) -> Recipient:
    return Recipient(member.id, member.email, member.name, member.token_version)


def _topic_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Topic.id, Topic.name)).all())


def _digest_groups(
    session: Session, member: Member | None, article: ArticleView | None
) -> list[TopicGroup] | None:
    """The chosen article, then the latest published ones in the member's topics (all topics
    without a member), grouped by topic; None, for the sample digest, when there are none."""
    topics = {t.id: t for t in session.scalars(select(Topic))}
    query = (
        select(ArticleTopic.topic_id, Article)
        .join(Article, Article.id == ArticleTopic.article_id)
        .where(ArticleTopic.assigned, Article.status == ArticleStatus.PUBLISHED)
        .order_by(Article.published_at.desc(), Article.id.desc())
        .limit(DIGEST_SIZE)
    )
    if member is not None:
        query = query.where(ArticleTopic.topic_id.in_([s.topic_id for s in member.subscriptions]))
    names = {topic_id: topic.name for topic_id, topic in topics.items()}
    grouped: dict[int, list[ArticleView]] = {}
    for topic_id, row in session.execute(query).all():
        grouped.setdefault(topic_id, []).append(ArticleView.from_model(row, names))
    groups = [TopicGroup(topics[t].slug, topics[t].name, grouped[t]) for t in sorted(grouped)]
    if article is not None:
        name = article.topics[0] if article.topics else "News"
        groups.insert(0, TopicGroup(name.lower(), name, [article]))
    return groups or None

"""`newsletter preview KIND`: any email, for any member, with sample content where none is given."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer
from rich.markup import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.cli.common import USAGE_ERROR, console, fail, open_session
from newsletter.config import ConfigError
from newsletter.delivery.digests import next_digest
from newsletter.members import MemberError, find_member, normalise_email
from newsletter.models import Article, ArticleStatus, ArticleTopic, Frequency, Member, Topic, utcnow
from newsletter.preferences import chosen_topics
from newsletter.rendering import (
    KINDS,
    ArticleView,
    Recipient,
    RecipientError,
    TemplateError,
    TopicGroup,
)
from newsletter.rendering.previews import (
    PreviewContent,
    as_sent,
    decoded_part,
    prepare_preview,
    write_preview,
)
from newsletter.rendering.samples import SAMPLE_RECIPIENT
from newsletter.scheduling import DIGEST_FREQUENCIES
from newsletter.topics import topic_names

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
    frequency: str | None = typer.Option(
        None, "--frequency", help="daily or weekly: which of the member's digests (digest)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Write the HTML part to this file."),
    eml: Path | None = typer.Option(None, "--eml", help="Write the whole message to this file."),
) -> None:
    """Render an email as a member would get it; prints the text part unless --out/--eml.

    `preview digest --member X` shows exactly X's next digest: computed the way the digest run
    computes it, from now on."""
    if kind not in KINDS:
        fail(f"unknown kind of email {kind!r} (expected one of {', '.join(KINDS)})")
    with open_session() as session:
        member = _member(session, member_email) if member_email else None
        article = _article(session, article_id) if article_id is not None else None
        content = PreviewContent([article] if article else None, topics=None)
        recipient = SAMPLE_RECIPIENT
        if member is not None:
            chosen = _digest_frequency(member, frequency) if kind == "digest" else None
            content = _member_content(session, member, article, chosen)
            recipient = _recipient(session, member, chosen)
        elif kind == "digest":
            content = replace(content, groups=_latest_groups(session, article))
        recipient = as_sent(kind, recipient)
        try:
            prepared = prepare_preview(kind, content=content)
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


def _digest_frequency(member: Member, asked: str | None) -> Frequency:
    """The digest to show: the one asked for, or the member's only one (weekly if both)."""
    theirs = {s.frequency for s in member.subscriptions} & set(DIGEST_FREQUENCIES)
    if asked is not None:
        if asked not in {f.value for f in DIGEST_FREQUENCIES}:
            fail(f"unknown digest frequency {asked!r} (expected daily or weekly)", USAGE_ERROR)
        if Frequency(asked) not in theirs:
            fail(f"{member.email} gets no {asked} digest")
        return Frequency(asked)
    if not theirs:
        fail(f"{member.email} gets no digest: every topic they follow arrives as it is published")
    return Frequency.WEEKLY if Frequency.WEEKLY in theirs else Frequency.DAILY


def _member_content(
    session: Session, member: Member, article: ArticleView | None, frequency: Frequency | None
) -> PreviewContent:
    topics = chosen_topics(session, member)
    if frequency is None:
        return PreviewContent([article] if article else None, topics=topics)
    groups = next_digest_groups(session, member, frequency)
    if not groups:
        console.print(
            f"{member.email}'s next {frequency.value} digest would be empty: none is sent.",
            soft_wrap=True,
            highlight=False,
        )
        raise typer.Exit(0)
    return PreviewContent(groups=groups, frequency=frequency.value, topics=topics)


def next_digest_groups(session: Session, member: Member, frequency: Frequency) -> list[TopicGroup]:
    """The member's next digest as the digest run would compose it now (digests.next_digest:
    the same articles, watermark, look-back and what they have had in any email)."""
    groups = next_digest(session, member.id, frequency, utcnow())
    topics = {t.id: t for t in session.scalars(select(Topic))}
    names = {topic_id: topic.name for topic_id, topic in topics.items()}
    wanted = [article_id for _, ids in groups for article_id in ids]
    found = {a.id: a for a in session.scalars(select(Article).where(Article.id.in_(wanted)))}
    return [
        TopicGroup(
            topics[topic_id].slug,
            topics[topic_id].name,
            [ArticleView.from_model(found[i], names) for i in ids if i in found],
        )
        for topic_id, ids in groups
    ]


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
    return ArticleView.from_model(article, topic_names(session))


def _recipient(session: Session, member: Member, digest: Frequency | None) -> Recipient:
    """The member, following their topics (those of the digest's frequency, for a digest)."""
    names = topic_names(session)
    follows = tuple(
        sorted(
            (names[s.topic_id], s.frequency.value)
            for s in member.subscriptions
            if digest is None or s.frequency == digest
        )
    )
    return Recipient(member.id, member.email, member.name, member.token_version, follows)


def _latest_groups(session: Session, article: ArticleView | None) -> list[TopicGroup] | None:
    """Without a member: the chosen article, then the latest published ones, grouped by
    topic; None, for the sample digest, when there are none."""
    topics = {t.id: t for t in session.scalars(select(Topic))}
    query = (
        select(ArticleTopic.topic_id, Article)
        .join(Article, Article.id == ArticleTopic.article_id)
        .where(ArticleTopic.assigned, Article.status == ArticleStatus.PUBLISHED)
        .order_by(Article.published_at.desc(), Article.id.desc())
        .limit(DIGEST_SIZE)
    )
    names = {topic_id: topic.name for topic_id, topic in topics.items()}
    grouped: dict[int, list[ArticleView]] = {}
    for topic_id, row in session.execute(query).all():
        grouped.setdefault(topic_id, []).append(ArticleView.from_model(row, names))
    groups = [TopicGroup(topics[t].slug, topics[t].name, grouped[t]) for t in sorted(grouped)]
    if article is not None:
        name = article.topics[0] if article.topics else "News"
        groups.insert(0, TopicGroup(name.lower(), name, [article]))
    return groups or None

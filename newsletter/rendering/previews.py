"""Previews: any kind of email, with real or sample content, as an .html and an .eml file."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from newsletter import links
from newsletter.config import get_settings
from newsletter.rendering import samples
from newsletter.rendering.build import prepare
from newsletter.rendering.emails import (
    address_changed_spec,
    address_confirm_spec,
    prepare_alert,
    prepare_announcement,
    prepare_confirm,
    prepare_digest,
    prepare_manage_link,
    prepare_reminder,
    prepare_welcome,
)
from newsletter.rendering.headers import parse_sender
from newsletter.rendering.prepared import OutgoingMessage, PreparedEmail
from newsletter.rendering.views import ArticleView, DeadlineView, Recipient, TopicGroup

KINDS = (
    "alert",
    "digest",
    "reminder",
    "announcement",
    "confirm",
    "welcome",
    "manage-link",
    "address-confirm",
    "address-changed",
)
# A member's own emails (newsletter.member_mail): sent without the member's name.
MEMBER_KINDS = ("confirm", "welcome", "manage-link", "address-confirm", "address-changed")
PREVIEW_SEND_ID = 0  # previews belong to no send; their unsubscribe links name send 0
DEFAULT_DAYS_LEFT = 7
SAMPLE_NEW_ADDRESS = "sam.new@example.com"


@dataclass(frozen=True)
class PreviewContent:
    """What previews show; whatever is not given comes from the samples."""

    articles: list[ArticleView] | None = None  # the alert shows the first; reminders the first
    # with a closing date ahead; the digest all of them
    groups: list[TopicGroup] | None = None  # the digest's, when not the articles by topic
    frequency: str = "weekly"
    topics: dict[str, str] | None = None  # {topic name: frequency} for confirm and the like
    announcement: tuple[str, str] | None = None  # (subject, Markdown)


def prepare_preview(
    kind: str,
    *,
    article: ArticleView | None = None,
    groups: list[TopicGroup] | None = None,
    topics: dict[str, str] | None = None,
    today: date | None = None,
    content: PreviewContent | None = None,
) -> PreparedEmail:
    """The email of `kind`; whatever content is not given comes from the samples. The
    change-of-address emails name a sample new address, and their link is the fictional
    member's, whoever the preview is for: it must not move a real member's address."""
    content = content or PreviewContent([article] if article else None, groups, topics=topics)
    articles = content.articles or samples.sample_articles()
    chosen = content.topics if content.topics is not None else samples.SAMPLE_TOPIC_CHOICES
    if kind == "alert":
        return prepare_alert(articles[0], send_id=PREVIEW_SEND_ID)
    if kind == "digest":
        groups = content.groups or samples.sample_groups(articles)
        return prepare_digest(content.frequency, groups, send_id=PREVIEW_SEND_ID)
    if kind == "reminder":
        article, deadline, days_left = _with_deadline_ahead(articles, today or date.today())
        return prepare_reminder(article, deadline, days_left, send_id=PREVIEW_SEND_ID)
    if kind == "announcement":
        subject, body = content.announcement or (
            samples.SAMPLE_ANNOUNCEMENT_SUBJECT,
            samples.SAMPLE_ANNOUNCEMENT_MARKDOWN,
        )
        return prepare_announcement(subject, body, send_id=PREVIEW_SEND_ID)
    if kind == "confirm":
        return prepare_confirm(topics=chosen)
    if kind == "welcome":
        return prepare_welcome(topics=chosen)
    if kind == "manage-link":
        return prepare_manage_link(topics=chosen)
    if kind == "address-confirm":
        sample = samples.SAMPLE_RECIPIENT
        url = links.address_url(sample.member_id, sample.token_version, SAMPLE_NEW_ADDRESS)
        return prepare(address_confirm_spec(address_url=url))
    if kind == "address-changed":
        sender = parse_sender(get_settings().FROM_ADDRESS).address
        return prepare(address_changed_spec(new_email=SAMPLE_NEW_ADDRESS, sender_address=sender))
    raise ValueError(f"unknown kind of email {kind!r} (expected one of {', '.join(KINDS)})")


def _with_deadline_ahead(
    articles: list[ArticleView], today: date
) -> tuple[ArticleView, DeadlineView, int]:
    """The first of the articles with a closing date ahead, that date and the days to it (as
    reminders are sent); a made-up date for the first article if none has one."""
    for candidate in articles:
        ahead = [d for d in candidate.deadlines if d.date >= today and d.kind == "closes"]
        if ahead:
            return candidate, ahead[0], (ahead[0].date - today).days
    article = articles[0]
    kind = article.deadlines[0].kind if article.deadlines else "closes"
    made_up = DeadlineView(today + timedelta(days=DEFAULT_DAYS_LEFT), "day", kind)
    return replace(article, deadlines=[made_up]), made_up, DEFAULT_DAYS_LEFT


def as_sent(kind: str, recipient: Recipient) -> Recipient:
    """The recipient as `kind` of email is sent to them: a member's own emails carry no name."""
    return replace(recipient, name="") if kind in MEMBER_KINDS else recipient


def decoded_part(message: OutgoingMessage, subtype: str) -> str:
    """The "plain" or "html" part of a message as a reader gets it: decoded, LF line endings."""
    parsed = message_from_bytes(message.data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body((subtype,))
    if body is None:
        raise ValueError(f"message {message.message_id} has no {subtype} part")
    return str(body.get_content()).replace("\r\n", "\n")


def write_preview(message: OutgoingMessage, html_file: Path | None, eml_file: Path | None) -> None:
    html = decoded_part(message, "html").encode("utf-8")
    for path, data in ((html_file, html), (eml_file, message.data)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


def write_previews(
    out_dir: Path,
    recipient: Recipient = samples.SAMPLE_RECIPIENT,
    content: PreviewContent | None = None,
) -> list[Path]:
    """An .html and an .eml of every kind of email, with this content (or the samples);
    returns the files."""
    written = []
    for kind in KINDS:
        message = prepare_preview(kind, content=content).personalise(as_sent(kind, recipient))
        html_file, eml_file = out_dir / f"{kind}.html", out_dir / f"{kind}.eml"
        write_preview(message, html_file, eml_file)
        written += [html_file, eml_file]
    return written

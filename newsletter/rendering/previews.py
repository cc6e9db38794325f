"""Previews: any kind of email, with real or sample content, as an .html and an .eml file."""

from __future__ import annotations

from dataclasses import replace
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
    manage_link_spec,
    prepare_alert,
    prepare_announcement,
    prepare_confirm,
    prepare_digest,
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
    "manage_link",
    "address_confirm",
    "address_changed",
)
# A member's own emails (newsletter.member_mail): sent without the member's name.
MEMBER_KINDS = ("confirm", "welcome", "manage_link", "address_confirm", "address_changed")
PREVIEW_SEND_ID = 0  # previews belong to no send; their unsubscribe links name send 0
DEFAULT_DAYS_LEFT = 7
SAMPLE_NEW_ADDRESS = "sam.new@example.com"


def prepare_preview(
    kind: str,
    *,
    article: ArticleView | None = None,
    groups: list[TopicGroup] | None = None,
    topics: dict[str, str] | None = None,
    today: date | None = None,
) -> PreparedEmail:
    """The email of `kind`; whatever content is not given comes from the samples. The
    change-of-address emails name a sample new address, and their link is the fictional
    member's, whoever the preview is for: it must not move a real member's address."""
    article = article or samples.sample_articles()[0]
    topics = topics if topics is not None else samples.SAMPLE_TOPIC_CHOICES
    if kind == "alert":
        return prepare_alert(article, send_id=PREVIEW_SEND_ID)
    if kind == "digest":
        return prepare_digest("weekly", groups or samples.sample_groups(), send_id=PREVIEW_SEND_ID)
    if kind == "reminder":
        article, deadline, days_left = _with_deadline_ahead(article, today or date.today())
        return prepare_reminder(article, deadline, days_left, send_id=PREVIEW_SEND_ID)
    if kind == "announcement":
        return prepare_announcement(
            samples.SAMPLE_ANNOUNCEMENT_SUBJECT,
            samples.SAMPLE_ANNOUNCEMENT_MARKDOWN,
            send_id=PREVIEW_SEND_ID,
        )
    if kind == "confirm":
        return prepare_confirm(topics=topics)
    if kind == "welcome":
        return prepare_welcome(topics=topics)
    if kind == "manage_link":
        return prepare(manage_link_spec(topics=topics))
    if kind == "address_confirm":
        sample = samples.SAMPLE_RECIPIENT
        url = links.address_url(sample.member_id, sample.token_version, SAMPLE_NEW_ADDRESS)
        return prepare(address_confirm_spec(address_url=url))
    if kind == "address_changed":
        sender = parse_sender(get_settings().FROM_ADDRESS).address
        return prepare(address_changed_spec(new_email=SAMPLE_NEW_ADDRESS, sender_address=sender))
    raise ValueError(f"unknown kind of email {kind!r} (expected one of {', '.join(KINDS)})")


def _with_deadline_ahead(
    article: ArticleView, today: date
) -> tuple[ArticleView, DeadlineView, int]:
    """The article's next deadline and the days to it; a made-up one if it has none ahead."""
    ahead = [d for d in article.deadlines if d.date >= today]
    if ahead:
        return article, ahead[0], (ahead[0].date - today).days
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


def write_previews(out_dir: Path, recipient: Recipient = samples.SAMPLE_RECIPIENT) -> list[Path]:
    """An .html and an .eml of every kind of email, with sample content; returns the files."""
    written = []
    for kind in KINDS:
        message = prepare_preview(kind).personalise(as_sent(kind, recipient))
        html_file, eml_file = out_dir / f"{kind}.html", out_dir / f"{kind}.eml"
        write_preview(message, html_file, eml_file)
        written += [html_file, eml_file]
    return written

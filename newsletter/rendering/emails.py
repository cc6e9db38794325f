"""One function per kind of email: what it shows, and whether it is list mail.

Each `*_spec` function says what to render; each `prepare_*` renders it once, ready for
`PreparedEmail.personalise` per member. Content from outside (article HTML, staff Markdown) is
sanitised and turned into text here, once per send.
"""

from __future__ import annotations

from newsletter.rendering.build import EmailSpec, prepare
from newsletter.rendering.content import html_to_text, markdown_html, plain_words, safe_html
from newsletter.rendering.formatting import days_left_phrase, deadline_verb
from newsletter.rendering.prepared import PreparedEmail
from newsletter.rendering.views import ArticleView, DeadlineView, TopicGroup


def alert_spec(article: ArticleView, *, send_id: int) -> EmailSpec:
    body_html = safe_html(article.body_html)
    context = {"article": article, "body_html": body_html, "body_text": html_to_text(body_html)}
    return EmailSpec("alert", context, send_id=send_id)


def digest_spec(frequency: str, groups: list[TopicGroup], *, send_id: int) -> EmailSpec:
    groups = _without_repeats(groups)
    if not groups:
        # Articles withdrawn or deleted since fan-out: better no email than an empty one.
        raise LookupError(f"digest of send {send_id} has no articles left to show")
    context = {
        "frequency": frequency,
        "groups": groups,
        "topic_names": [group.name for group in groups],
        "article_count": sum(len(group.articles) for group in groups),
    }
    return EmailSpec("digest", context, send_id=send_id)


def _without_repeats(groups: list[TopicGroup]) -> list[TopicGroup]:
    """Each article once, under the first of its groups; groups left empty are dropped."""
    seen: set[int] = set()
    kept = []
    for group in groups:
        articles = [a for a in group.articles if a.id not in seen]
        seen.update(a.id for a in articles)
        if articles:
            kept.append(TopicGroup(group.slug, group.name, articles))
    return kept


def reminder_spec(
    article: ArticleView, deadline: DeadlineView, days_left: int, *, send_id: int
) -> EmailSpec:
    context = {
        "article": article,
        "deadline": deadline,
        "days_left": days_left,
        "countdown": f"{deadline_verb(deadline.kind)} {days_left_phrase(days_left)}",
    }
    return EmailSpec("reminder", context, send_id=send_id)


def announcement_spec(subject: str, body_markdown: str, *, send_id: int) -> EmailSpec:
    body_html = markdown_html(body_markdown)
    context = {
        "announcement_subject": subject,
        "body_html": body_html,
        "body_text": html_to_text(body_html),
        "preheader": plain_words(body_html),
    }
    # Written by a person, not generated: auto-responders may answer it.
    return EmailSpec("announcement", context, send_id=send_id, auto_submitted=False)


def confirm_spec(*, topics: dict[str, str]) -> EmailSpec:
    return EmailSpec("confirm", {"topics": topics}, bulk=False)


def welcome_spec(*, topics: dict[str, str]) -> EmailSpec:
    return EmailSpec("welcome", {"topics": topics}, bulk=False)


def manage_link_spec(*, topics: dict[str, str]) -> EmailSpec:
    return EmailSpec("manage_link", {"topics": topics}, bulk=False)


def address_confirm_spec(*, address_url: str) -> EmailSpec:
    """To a member's new address: the link (links.address_url) that makes it theirs."""
    return EmailSpec("address_confirm", {"address_url": address_url}, bulk=False)


def address_changed_spec(*, new_email: str, sender_address: str) -> EmailSpec:
    """To a member's old address, once the new one is confirmed."""
    context = {"new_email": new_email, "sender_address": sender_address}
    return EmailSpec("address_changed", context, bulk=False)


def prepare_alert(article: ArticleView, *, send_id: int) -> PreparedEmail:
    """One article, breaking or for members who want news at once."""
    return prepare(alert_spec(article, send_id=send_id))


def prepare_digest(frequency: str, groups: list[TopicGroup], *, send_id: int) -> PreparedEmail:
    """Articles grouped by topic; call once per distinct set of groups (a content variant).

    An article in several groups is shown once, in the first; raises LookupError when no
    group has any article.
    """
    return prepare(digest_spec(frequency, groups, send_id=send_id))


def prepare_reminder(
    article: ArticleView, deadline: DeadlineView, days_left: int, *, send_id: int
) -> PreparedEmail:
    """A deadline is `days_left` days away (0 is today)."""
    return prepare(reminder_spec(article, deadline, days_left, send_id=send_id))


def prepare_announcement(subject: str, body_markdown: str, *, send_id: int) -> PreparedEmail:
    """Comms staff's own subject and Markdown text."""
    return prepare(announcement_spec(subject, body_markdown, send_id=send_id))


def prepare_confirm(*, topics: dict[str, str]) -> PreparedEmail:
    """Double opt-in; topics maps a topic's name to its frequency ("immediate", "weekly"...)."""
    return prepare(confirm_spec(topics=topics))


def prepare_welcome(*, topics: dict[str, str]) -> PreparedEmail:
    """Sent once a member has confirmed; topics as for prepare_confirm."""
    return prepare(welcome_spec(topics=topics))

"""One function per kind of email: what it shows, and whether it is list mail.

Each `*_spec` function says what to render; each `prepare_*` renders it once, ready for
`PreparedEmail.personalise` per member. Content from outside (article HTML, staff Markdown) is
sanitised and turned into text here, once per send.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from newsletter.calendars import DeadlineEvent, calendar_bytes, is_calendar_deadline
from newsletter.config import get_settings
from newsletter.rendering.build import EmailSpec, ListTopic, prepare
from newsletter.rendering.content import (
    greeting_of,
    html_to_text,
    markdown_html,
    plain_words,
    repeats,
    safe_html,
    under_heading,
)
from newsletter.rendering.digest_budget import archive_url, plan_digest
from newsletter.rendering.formatting import days_left_phrase, deadline_verb, preheader
from newsletter.rendering.headers import parse_sender
from newsletter.rendering.prepared import PreparedEmail
from newsletter.rendering.skeleton import Attachment
from newsletter.rendering.views import ArticleView, DeadlineView, TopicGroup

# Gmail hides everything past ~102 KB of HTML, the unsubscribe link first: a digest stays under.
DIGEST_HTML_BUDGET = 90_000
# Room left for each member's own values, which are longer than the placeholders measured.
PERSONAL_ALLOWANCE = 2_000
DIGEST_SHOWN = 40  # articles shown in full; the rest are counted, with a link to the archive
SUMMARY_CHARS = 300  # a digest shows the start of a longer summary
ICS_FILENAME = "deadline.ics"
ICS_CONTENT_TYPE = "text/calendar; charset=utf-8; method=PUBLISH"


def alert_spec(
    article: ArticleView, *, send_id: int, list_topic: ListTopic | None = None
) -> EmailSpec:
    body_html = under_heading(safe_html(article.body_html))
    context = {
        "article": article,
        "body_html": body_html,
        "body_text": html_to_text(body_html),
        # The summary is often the body's first paragraph: say it once.
        "show_summary": bool(article.summary) and not repeats(article.summary, body_html),
        "preheader": preheader(article.summary or article.title),
    }
    today = datetime.now(UTC).astimezone(ZoneInfo(get_settings().TIMEZONE)).date()
    return EmailSpec(
        "alert",
        context,
        send_id=send_id,
        list_topic=list_topic,
        attachments=deadline_attachments(article, lambda day: day >= today),
    )


def deadline_attachments(
    article: ArticleView, wanted: Callable[[date], bool]
) -> tuple[Attachment, ...]:
    """The article's closing deadlines on the days `wanted` as one .ics file (none: no file)."""
    events = [
        DeadlineEvent(d.deadline_id, d.date, article.title, article.url, d.text)
        for d in article.deadlines
        if d.deadline_id is not None
        and is_calendar_deadline(d.kind, d.precision)
        and wanted(d.date)
    ]
    if not events:
        return ()
    domain = parse_sender(get_settings().FROM_ADDRESS).domain
    data = calendar_bytes(events, domain=domain)
    return (Attachment(ICS_FILENAME, ICS_CONTENT_TYPE, data),)


def digest_spec(
    frequency: str, groups: list[TopicGroup], *, send_id: int, shown: int = DIGEST_SHOWN
) -> EmailSpec:
    groups = _without_repeats(groups)
    if not groups:
        # Articles withdrawn or deleted since fan-out: better no email than an empty one.
        raise LookupError(f"digest of send {send_id} has no articles left to show")
    plan = plan_digest(groups, shown)
    context = {
        "frequency": frequency,
        "groups": plan.shown,
        "topic_names": [group.name for group in groups],
        "article_count": plan.total,
        "more_count": plan.hidden,
        "more_url": archive_url(groups) if plan.hidden else "",
        "summary_chars": SUMMARY_CHARS,
        "preheader": preheader(" · ".join(a.title for g in plan.shown for a in g.articles)),
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
    article: ArticleView,
    deadlines: DeadlineView | list[DeadlineView],
    days_left: int,
    *,
    send_id: int,
) -> EmailSpec:
    """One reminder for the article's deadlines that fall on one day (usually one)."""
    same_day = deadlines if isinstance(deadlines, list) else [deadlines]
    deadline = same_day[0]
    context = {
        "article": article,
        "deadline": deadline,
        "days_left": days_left,
        "countdown": f"{deadline_verb(deadline.kind)} {days_left_phrase(days_left)}",
        "quotes": _quotes(article.title, same_day),
        "preheader": preheader(f"{deadline.label}: {article.title}"),
    }
    files = deadline_attachments(article, lambda day: day == deadline.date)
    return EmailSpec("reminder", context, send_id=send_id, attachments=files)


def _quotes(title: str, deadlines: list[DeadlineView]) -> list[str]:
    """The sentences the deadlines were found in, each once, except one that only says the
    title again (deadlines are found in the title too)."""
    quotes: list[str] = []
    for deadline in deadlines:
        text = deadline.text.strip()
        if text and text not in quotes and not repeats(text, title):
            quotes.append(text)
    return quotes


def announcement_spec(
    subject: str, body_markdown: str, *, send_id: int, acknowledge: bool = False
) -> EmailSpec:
    """Staff's announcement; `acknowledge`: an urgent notice, with an "I've read this" button."""
    body_html = under_heading(markdown_html(body_markdown))
    # Staff who open with "Dear colleague," are not greeted over by "Hello Ann,".
    greeting = greeting_of(body_html)
    context = {
        "announcement_subject": subject,
        "body_html": body_html,
        "body_text": html_to_text(body_html),
        "preheader": preheader(plain_words(body_html).removeprefix(greeting)),
        "greets": bool(greeting),
        "acknowledge": acknowledge,
    }
    return EmailSpec("announcement", context, send_id=send_id)


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


def prepare_alert(
    article: ArticleView, *, send_id: int, list_topic: ListTopic | None = None
) -> PreparedEmail:
    """One article, breaking or for members who want news at once; `list_topic` (its main
    topic) gives the alert a List-Id of its own, so mail clients can file each topic apart."""
    return prepare(alert_spec(article, send_id=send_id, list_topic=list_topic))


def prepare_digest(frequency: str, groups: list[TopicGroup], *, send_id: int) -> PreparedEmail:
    """Articles grouped by topic; call once per distinct set of groups (a content variant).

    An article in several groups is shown once, in the first; raises LookupError when no
    group has any article. Past DIGEST_SHOWN articles, or the HTML budget, the rest are
    counted with a link to them on the website.
    """
    shown = DIGEST_SHOWN
    while True:
        prepared = prepare(digest_spec(frequency, groups, send_id=send_id, shown=shown))
        size = prepared.html_bytes + PERSONAL_ALLOWANCE
        if size <= DIGEST_HTML_BUDGET or shown <= 1:
            return prepared
        # Long titles or summaries: show fewer, in proportion (rare; one more rendering).
        shown = max(1, min(shown - 1, shown * DIGEST_HTML_BUDGET // size - 1))


def prepare_reminder(
    article: ArticleView,
    deadlines: DeadlineView | list[DeadlineView],
    days_left: int,
    *,
    send_id: int,
) -> PreparedEmail:
    """Deadlines of the article `days_left` days away (0 is today), all on that one day."""
    return prepare(reminder_spec(article, deadlines, days_left, send_id=send_id))


def prepare_announcement(
    subject: str, body_markdown: str, *, send_id: int, acknowledge: bool = False
) -> PreparedEmail:
    """Comms staff's own subject and Markdown text; `acknowledge` adds the "I've read this"
    button of an urgent notice."""
    return prepare(
        announcement_spec(subject, body_markdown, send_id=send_id, acknowledge=acknowledge)
    )


def prepare_confirm(*, topics: dict[str, str]) -> PreparedEmail:
    """Double opt-in; topics maps a topic's name to its frequency ("immediate", "weekly"...)."""
    return prepare(confirm_spec(topics=topics))


def prepare_welcome(*, topics: dict[str, str]) -> PreparedEmail:
    """Sent once a member has confirmed; topics as for prepare_confirm."""
    return prepare(welcome_spec(topics=topics))


def prepare_manage_link(*, topics: dict[str, str]) -> PreparedEmail:
    """The link a member asked for to manage their emails; topics as for prepare_confirm."""
    return prepare(manage_link_spec(topics=topics))

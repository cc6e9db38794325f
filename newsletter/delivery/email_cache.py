"""The email of a send, rendered once per (send, variant) and kept by this process: every later
batch of the send personalises the same rendering. Also the send's topics and the articles its
digest variants draw on, loaded once per send.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from newsletter.audience import Audience, groups_of, variant_key
from newsletter.config import Settings
from newsletter.models import Article, Deadline, Send, SendKind, Topic, utcnow
from newsletter.scheduling import days_left

if TYPE_CHECKING:
    from newsletter.rendering import ArticleView, DeadlineView, PreparedEmail, TopicGroup

_CACHE_SIZE = 64
# (_send_key, variant) -> the rendering.
_prepared: OrderedDict[tuple[str, int, str, str], PreparedEmail] = OrderedDict()


def _send_key(send: Send, settings: Settings) -> tuple[str, int, str]:
    # (database, send id, send created): ids alone repeat across databases (tests).
    return (settings.DATABASE_URL, send.id, send.created_at.isoformat())


def email_for(
    session: Session, send: Send, content: dict[str, Any] | None, settings: Settings
) -> PreparedEmail:
    """The rendering shared by every member whose copy has this content (cached per process)."""
    key = (*_send_key(send, settings), variant_key(content))
    if key in _prepared:
        _prepared.move_to_end(key)
        return _prepared[key]
    prepared = render_send(session, send, content, settings)
    _prepared[key] = prepared
    if len(_prepared) > _CACHE_SIZE:
        _prepared.popitem(last=False)
    return prepared


def render_send(
    session: Session, send: Send, content: dict[str, Any] | None, settings: Settings
) -> PreparedEmail:
    """Render the send's email for one variant (`content`: a digest member's articles), for
    `personalise` to finish per member; not cached (email_for caches)."""
    from newsletter import rendering
    from newsletter.rendering.build import ListTopic

    if send.kind == SendKind.ANNOUNCEMENT:
        from newsletter.acknowledgements import carries_button

        return rendering.prepare_announcement(
            send.subject,
            send.body_markdown,
            send_id=send.id,
            acknowledge=carries_button(session, send.id),
        )
    if send.kind == SendKind.DIGEST:
        frequency = (Audience.from_json(send.audience).frequencies or ())[0]
        groups = digest_topic_groups(session, send, groups_of(content), settings)
        return rendering.prepare_digest(frequency.value, groups, send_id=send.id)
    catalogue = catalogue_for(session, send, settings)
    article = session.get(Article, send.article_id) if send.article_id else None
    if article is None:
        raise LookupError(f"the article of send {send.id} no longer exists")
    view = rendering.ArticleView.from_model(article, catalogue.names)
    if send.kind == SendKind.ALERT:
        main = min((t for t in article.topics if t.assigned), key=lambda t: t.rank, default=None)
        list_topic = (
            ListTopic(catalogue.slugs[main.topic_id], catalogue.names[main.topic_id])
            if main is not None and main.topic_id in catalogue.names
            else None
        )
        return rendering.prepare_alert(view, send_id=send.id, list_topic=list_topic)
    deadline = session.get(Deadline, send.deadline_id) if send.deadline_id else None
    if deadline is None:
        raise LookupError(f"the deadline of send {send.id} no longer exists")
    left = days_left(deadline.date, send.started_at or utcnow(), ZoneInfo(settings.TIMEZONE))
    deadlines = same_day_deadlines(article, deadline)
    return rendering.prepare_reminder(view, deadlines, left, send_id=send.id)


def same_day_deadlines(article: Article, deadline: Deadline) -> list[DeadlineView]:
    """The reminded deadline and the article's others of its kind on the same day: one
    reminder tells of them all (reminders.run_reminders sends one per day)."""
    from newsletter.rendering import DeadlineView

    alike = [
        d
        for d in sorted(article.deadlines, key=lambda d: d.id)
        if d.id == deadline.id
        or (d.date, d.kind, d.precision) == (deadline.date, deadline.kind, deadline.precision)
    ]
    return [DeadlineView(d.date, d.precision.value, d.kind.value, d.text) for d in alike]


@dataclass
class _Catalogue:
    """A digest send's topics and the articles its variants have needed so far."""

    names: dict[int, str]
    slugs: dict[int, str]
    views: dict[int, ArticleView] = field(default_factory=dict)


# Keyed by _send_key. A digest's 31 variants draw on the same few articles: loading them
# for each variant was a quarter of a worker's first batch.
_catalogues: OrderedDict[tuple[str, int, str], _Catalogue] = OrderedDict()


def digest_topic_groups(
    session: Session, send: Send, groups: list[tuple[int, list[int]]], settings: Settings
) -> list[TopicGroup]:
    from newsletter.rendering import TopicGroup

    catalogue = catalogue_for(session, send, settings)
    _load_views(session, catalogue, [article_id for _, ids in groups for article_id in ids])
    return [
        TopicGroup(
            catalogue.slugs[topic_id],
            catalogue.names[topic_id],
            [catalogue.views[i] for i in ids if i in catalogue.views],
        )
        for topic_id, ids in groups
    ]


def catalogue_for(session: Session, send: Send, settings: Settings) -> _Catalogue:
    key = _send_key(send, settings)
    if key not in _catalogues:
        topics = session.execute(select(Topic.id, Topic.name, Topic.slug)).all()
        names = {t.id: t.name for t in topics}
        _catalogues[key] = _Catalogue(names, {t.id: t.slug for t in topics})
        if len(_catalogues) > _CACHE_SIZE:
            _catalogues.popitem(last=False)
    return _catalogues[key]


def _load_views(session: Session, catalogue: _Catalogue, wanted: list[int]) -> None:
    from newsletter.rendering import ArticleView

    missing = [article_id for article_id in wanted if article_id not in catalogue.views]
    if not missing:
        return
    found = session.scalars(
        select(Article)
        .where(Article.id.in_(missing))
        .options(selectinload(Article.topics), selectinload(Article.deadlines))
    )
    for article in found:
        catalogue.views[article.id] = ArticleView.from_model(article, catalogue.names)

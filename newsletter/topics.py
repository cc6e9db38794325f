"""Topics members subscribe to: listing and adding them."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import audit
from newsletter.models import Topic

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,49}$")


class TopicError(ValueError):
    pass


def list_topics(session: Session) -> list[Topic]:
    return list(session.scalars(select(Topic).order_by(Topic.slug)))


def topics_by_slug(session: Session) -> dict[str, Topic]:
    return {topic.slug: topic for topic in list_topics(session)}


def find_topic(session: Session, slug: str) -> Topic | None:
    return session.scalar(select(Topic).where(Topic.slug == slug))


def topic_names(session: Session) -> dict[int, str]:
    """Every topic's name by its id."""
    return dict(session.execute(select(Topic.id, Topic.name)).all())


def add_topic(
    session: Session, slug: str, name: str, description: str = "", actor: str = ""
) -> Topic:
    if not SLUG_PATTERN.match(slug):
        raise TopicError(
            f"topic slug {slug!r} must be lower-case letters, digits and hyphens, "
            "starting with a letter (at most 50 characters)"
        )
    if not name.strip():
        raise TopicError("a topic needs a name")
    if session.scalar(select(Topic).where(Topic.slug == slug)) is not None:
        raise TopicError(f"topic {slug!r} already exists")
    topic = Topic(slug=slug, name=name.strip(), description=description.strip())
    session.add(topic)
    session.flush()
    audit.record(session, actor or audit.cli_actor(), "topic.add", "topic", slug, name=name)
    return topic

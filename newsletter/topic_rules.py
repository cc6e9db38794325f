"""Topic keyword rules: weighted phrases the classifier counts as evidence for a topic."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import audit
from newsletter.models import Topic, TopicRule

MIN_WEIGHT, MAX_WEIGHT = 0.1, 10.0


class RuleError(ValueError):
    pass


def rules_by_topic(session: Session) -> list[tuple[Topic, list[TopicRule]]]:
    topics = session.scalars(select(Topic).order_by(Topic.name))
    return [(t, sorted(t.rules, key=lambda r: (-r.weight, r.phrase))) for t in topics]


def add_rule(session: Session, slug: str, phrase: str, weight: float, actor: str) -> TopicRule:
    topic = session.scalar(select(Topic).where(Topic.slug == slug))
    if topic is None:
        raise RuleError(f"unknown topic {slug!r}")
    phrase = " ".join(phrase.lower().split())
    if not phrase:
        raise RuleError("enter a word or phrase")
    if len(phrase) > 200:
        raise RuleError("a phrase can be at most 200 characters")
    if not MIN_WEIGHT <= weight <= MAX_WEIGHT:
        raise RuleError(f"the weight must be between {MIN_WEIGHT} and {MAX_WEIGHT:g}")
    if any(rule.phrase == phrase for rule in topic.rules):
        raise RuleError(f"{topic.name} already has the phrase {phrase!r}")
    rule = TopicRule(topic_id=topic.id, phrase=phrase, weight=weight)
    session.add(rule)
    session.flush()
    audit.record(session, actor, "topic_rule.add", "topic", slug, phrase=phrase, weight=weight)
    return rule


def remove_rule(session: Session, rule_id: int, actor: str) -> None:
    rule = session.get(TopicRule, rule_id)
    if rule is None:
        raise RuleError("that rule no longer exists")
    slug = rule.topic.slug
    session.delete(rule)
    audit.record(session, actor, "topic_rule.remove", "topic", slug, phrase=rule.phrase)

"""Who receives what: pure rules, with no database in sight.

An `Audience` describes the members a send is for (topics, frequencies, roles); the fan-out turns
it into one set-based SQL statement, and the ledger re-checks it when a delivery is claimed, so an
unsubscribe between fan-out and sending still takes effect. The digest rules decide, per member,
which articles their digest holds and how they are grouped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from newsletter.models import DeliveryStatus, Frequency, MemberStatus, Priority


@dataclass(frozen=True)
class Audience:
    """Members subscribed to any of `topic_ids` (None: any topic) with one of `frequencies`
    (None: any frequency), whose role is one of `roles` (empty: any role)."""

    topic_ids: tuple[int, ...] | None
    frequencies: tuple[Frequency, ...] | None = None
    roles: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "topic_ids": None if self.topic_ids is None else list(self.topic_ids),
            "frequencies": (
                None if self.frequencies is None else [f.value for f in self.frequencies]
            ),
            "roles": list(self.roles),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Audience:
        topics = data.get("topic_ids")
        frequencies = data.get("frequencies")
        return cls(
            topic_ids=None if topics is None else tuple(int(t) for t in topics),
            frequencies=None if frequencies is None else tuple(Frequency(f) for f in frequencies),
            roles=tuple(data.get("roles") or ()),
        )


def alert_audience(priority: Priority, topic_ids: Iterable[int]) -> Audience:
    """Breaking news reaches every subscriber of its topics; normal news the `immediate` ones."""
    topics = tuple(sorted(set(topic_ids)))
    if priority == Priority.BREAKING:
        return Audience(topic_ids=topics)
    return Audience(topic_ids=topics, frequencies=(Frequency.IMMEDIATE,))


def reminder_audience(topic_ids: Iterable[int]) -> Audience:
    return Audience(topic_ids=tuple(sorted(set(topic_ids))))


def announcement_audience(topic_ids: Iterable[int], roles: Iterable[str] = ()) -> Audience:
    return Audience(
        topic_ids=tuple(sorted(set(topic_ids))),
        roles=tuple(sorted({r.strip() for r in roles if r.strip()})),
    )


def digest_audience(frequency: Frequency) -> Audience:
    return Audience(topic_ids=None, frequencies=(frequency,))


def send_scope(audience: Audience, subscriptions: Iterable[tuple[int, Frequency]]) -> set[int]:
    """Which of a member's topics (id, frequency) one send was for: what it tells them they
    follow, and what its unsubscribe link stops.

    A send about topics (alert, reminder, announcement) was for those topics, whatever the
    frequency; a digest (no topics) was for the member's topics taken at its frequency.
    """
    if audience.topic_ids is not None:
        return {topic for topic, _ in subscriptions if topic in audience.topic_ids}
    if audience.frequencies is None:
        return {topic for topic, _ in subscriptions}
    return {topic for topic, frequency in subscriptions if frequency in audience.frequencies}


def may_receive(status: MemberStatus, paused: bool, suppressed: bool) -> bool:
    """Only active, unpaused members whose address is not suppressed ever receive anything."""
    return status == MemberStatus.ACTIVE and not paused and not suppressed


def claim_verdict(
    status: MemberStatus, paused: bool, suppressed: bool, still_in_audience: bool
) -> DeliveryStatus:
    """What a pending delivery becomes when a worker picks it up (the ledger's SQL mirrors this)."""
    if suppressed:
        return DeliveryStatus.SUPPRESSED
    if not may_receive(status, paused, False) or not still_in_audience:
        return DeliveryStatus.CANCELLED
    return DeliveryStatus.SENDING


# Digests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestArticle:
    id: int
    published_at: datetime
    topic_ids: tuple[int, ...]  # its assigned topics, most relevant first


Groups = list[tuple[int, list[int]]]  # [(topic_id, [article_id, ...]), ...]


def digest_groups(
    subscribed_since: Mapping[int, datetime],
    articles: Sequence[DigestArticle],
    *,
    watermark: datetime | None,
    until: datetime,
    already_alerted: set[int],
    topic_order: Sequence[int],
) -> Groups:
    """The articles one member's digest holds, grouped by topic; empty when there is nothing.

    `subscribed_since` maps each topic the member takes at this frequency to when they
    subscribed: with no watermark yet (a first digest) that is where their digest starts.
    Each article appears once, under the member's topic it is most about.
    """
    chosen: dict[int, list[DigestArticle]] = {}
    for article in articles:
        if article.id in already_alerted or article.published_at > until:
            continue
        topic = next((t for t in article.topic_ids if t in subscribed_since), None)
        if topic is None:
            continue
        start = watermark if watermark is not None else subscribed_since[topic]
        if article.published_at <= start:
            continue
        chosen.setdefault(topic, []).append(article)
    rank = {topic_id: i for i, topic_id in enumerate(topic_order)}
    return [
        (topic, [a.id for a in sorted(items, key=lambda a: (a.published_at, a.id))])
        for topic, items in sorted(chosen.items(), key=lambda kv: rank.get(kv[0], len(rank)))
    ]


def digest_starts(
    subscribed_since: Mapping[int, datetime], watermark: datetime | None
) -> frozenset[tuple[int, datetime]]:
    """Each topic with where the member's digest of it starts: all that `digest_groups` reads of
    `subscribed_since` and `watermark`, so members alike in this (and in alerts) get one digest."""
    return frozenset(
        (topic, watermark if watermark is not None else since)
        for topic, since in subscribed_since.items()
    )


def digest_content(groups: Groups) -> dict[str, Any]:
    return {"groups": [[topic, ids] for topic, ids in groups]}


def groups_of(content: Mapping[str, Any] | None) -> Groups:
    return [(int(topic), [int(i) for i in ids]) for topic, ids in (content or {}).get("groups", [])]


def variant_key(content: Mapping[str, Any] | None) -> str:
    """Members whose copies hold the same content share one rendering."""
    return json.dumps(content or {}, sort_keys=True, separators=(",", ":"))

"""Who receives what: pure rules, with no database in sight.

An `Audience` describes the members a send is for (topics, frequencies, roles); the fan-out turns
it into one set-based SQL statement, and the ledger re-checks it when a delivery is claimed, so an
unsubscribe between fan-out and sending still takes effect. The digest rules decide, per member,
which articles their digest holds and how they are grouped.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence, Set
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


# What a member has had ----------------------------------------------------------------------

# A row in one of these states holds its articles for the member: sent, or still on its way.
HOLDING = frozenset(
    {DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.DEFERRED, DeliveryStatus.SENT}
)
NOT_HOLDING = frozenset(DeliveryStatus) - HOLDING


def holds(status: DeliveryStatus) -> bool:
    """Whether a delivery row counts as the member having its articles.

    A row still on its way counts (a digest must not repeat an alert that is being retried);
    a failed, cancelled or suppressed one did not deliver them and gives them back, so that
    the member's next digest that covers them can carry them instead."""
    return status in HOLDING


@dataclass(frozen=True)
class History:
    """Of the articles looked at, those a member has had (or has on the way), and those an
    email that did not go out gave back."""

    had: frozenset[int] = frozenset()
    given_back: frozenset[int] = frozenset()


HistoryRow = tuple[int, DeliveryStatus, Iterable[int]]  # (member id, row status, article ids)


def history_of(rows: Iterable[HistoryRow]) -> dict[int, History]:
    """Each member's history from their alert and digest rows: an article any row holds was
    had, whatever other rows of it failed."""
    had: dict[int, set[int]] = defaultdict(set)
    back: dict[int, set[int]] = defaultdict(set)
    for member_id, status, article_ids in rows:
        (had if holds(status) else back)[member_id].update(article_ids)
    return {
        member: History(frozenset(had[member]), frozenset(back[member] - had[member]))
        for member in had.keys() | back.keys()
    }


def merge_histories(first: History, second: History) -> History:
    had = first.had | second.had
    return History(had, (first.given_back | second.given_back) - had)


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
    history: History,
    topic_order: Sequence[int],
) -> Groups:
    """The articles one member's digest holds, grouped by topic; empty when there is nothing.

    `subscribed_since` maps each topic the member takes at this frequency to when they
    subscribed: with no watermark yet (a first digest) that is where their digest starts.
    An article the member has had in any email (`history.had`) is left out; one an email that
    did not go out gave back comes even from before the watermark (not from before they
    subscribed to its topic). Each article appears once, under the member's topic it is most
    about.
    """
    chosen: dict[int, list[DigestArticle]] = {}
    for article in articles:
        if article.id in history.had or article.published_at > until:
            continue
        topic = next((t for t in article.topic_ids if t in subscribed_since), None)
        if topic is None or not is_due(
            article, subscribed_since[topic], watermark, article.id in history.given_back
        ):
            continue
        chosen.setdefault(topic, []).append(article)
    rank = {topic_id: i for i, topic_id in enumerate(topic_order)}
    return [
        (topic, [a.id for a in sorted(items, key=lambda a: (a.published_at, a.id))])
        for topic, items in sorted(chosen.items(), key=lambda kv: rank.get(kv[0], len(rank)))
    ]


def is_due(
    article: DigestArticle, since: datetime, watermark: datetime | None, given_back: bool
) -> bool:
    if given_back:
        return article.published_at > since
    return article.published_at > (watermark if watermark is not None else since)


def without_articles(groups: Groups, article_ids: Set[int]) -> Groups:
    """The groups less these articles, and less any group left empty."""
    kept = [(topic, [i for i in ids if i not in article_ids]) for topic, ids in groups]
    return [(topic, ids) for topic, ids in kept if ids]


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

"""Who receives what: pure rules, with no database in sight.

An `Audience` describes the members a send is for (topics, frequencies, roles); the fan-out turns
it into one set-based SQL statement, and the ledger re-checks it when a delivery is claimed, so an
unsubscribe between fan-out and sending still takes effect. The digest rules decide, per member,
which articles their digest holds and how they are grouped; the history rules, which articles a
member has already had, so that one article reaches them once (ADR 0011).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
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


HistoryRow = tuple[int, bool, tuple[int, ...]]  # (member id, the row holds, article ids)


def history_of(rows: Iterable[HistoryRow]) -> dict[int, History]:
    """Each member's history from their alert and digest rows (whether each holds its
    articles, and which): an article any row holds was had, whatever other rows of it failed.
    Members with the same rows share one History."""
    rows_of: dict[int, set[tuple[bool, tuple[int, ...]]]] = defaultdict(set)
    for member_id, holding, article_ids in rows:
        rows_of[member_id].add((bool(holding), article_ids))
    histories: dict[frozenset[tuple[bool, tuple[int, ...]]], History] = {}
    found = {}
    for member, items in rows_of.items():
        key = frozenset(items)
        if key not in histories:
            histories[key] = _history(key)
        found[member] = histories[key]
    return found


def _history(rows: Iterable[tuple[bool, tuple[int, ...]]]) -> History:
    had: set[int] = set()
    back: set[int] = set()
    for holding, article_ids in rows:
        (had if holding else back).update(article_ids)
    return History(frozenset(had), frozenset(back - had))


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
    look_back: timedelta = timedelta(0),
) -> Groups:
    """The articles one member's digest holds, grouped by topic; empty when there is nothing.

    `subscribed_since` maps each topic the member takes at this frequency to when they
    subscribed: with no watermark yet (a first digest) that is where their digest starts;
    otherwise it starts at the watermark, and looks `look_back` further back for articles
    no email carried to them (published as the last run read, or held then by an email that
    later failed). An article the member has had in any email (`history.had`) is left out;
    one that an email which did not go out gave back comes even from further back. Nothing
    comes from before they subscribed to its topic but what the watermark lets in. Each
    article appears once, under the member's topic it is most about.
    """
    chosen: dict[int, list[DigestArticle]] = {}
    for article in articles:
        if article.id in history.had or article.published_at > until:
            continue
        topic = next((t for t in article.topic_ids if t in subscribed_since), None)
        if topic is None:
            continue
        since = subscribed_since[topic]
        back = article.id in history.given_back
        if not is_due(article.published_at, since, watermark, given_back=back, look_back=look_back):
            continue
        chosen.setdefault(topic, []).append(article)
    rank = {topic_id: i for i, topic_id in enumerate(topic_order)}
    return [
        (topic, [a.id for a in sorted(items, key=lambda a: (a.published_at, a.id))])
        for topic, items in sorted(chosen.items(), key=lambda kv: rank.get(kv[0], len(rank)))
    ]


def is_due(
    published: datetime,
    since: datetime,
    watermark: datetime | None,
    *,
    given_back: bool,
    look_back: timedelta,
) -> bool:
    """Whether an article the member has not had belongs in their digest, by its time."""
    if watermark is None:
        return published > since
    if published > watermark:
        return True
    return published > since and (given_back or published > watermark - look_back)


def without_articles(groups: Groups, article_ids: Set[int]) -> Groups:
    """The groups less these articles, and less any group left empty."""
    kept = [(topic, [i for i in ids if i not in article_ids]) for topic, ids in groups]
    return [(topic, ids) for topic, ids in kept if ids]


def digest_starts(
    subscribed_since: Mapping[int, datetime],
    watermark: datetime | None,
    look_back: timedelta = timedelta(0),
) -> frozenset[tuple[int, datetime, datetime]]:
    """Each topic with where the member's digest of it starts and how far back it looks: all
    that `digest_groups` reads of `subscribed_since` and `watermark` when nothing was given
    back, so members alike in this (and in what they had) get one digest."""
    if watermark is None:
        return frozenset((topic, since, since) for topic, since in subscribed_since.items())
    return frozenset(
        (topic, watermark, max(since, watermark - look_back))
        for topic, since in subscribed_since.items()
    )


def merge_groups(first: Groups, second: Groups, topic_order: Sequence[int]) -> Groups:
    """Two digests as one (a daily digest bringing the weekly one): each article once, where
    `first` put it, topics in `topic_order`."""
    seen = {a for _, ids in first for a in ids}
    merged: dict[int, list[int]] = {topic: list(ids) for topic, ids in first}
    for topic, ids in second:
        new = [a for a in ids if a not in seen]
        seen.update(new)
        if new:
            merged.setdefault(topic, []).extend(new)
    rank = {topic_id: i for i, topic_id in enumerate(topic_order)}
    return sorted(merged.items(), key=lambda kv: rank.get(kv[0], len(rank)))


def digest_content(groups: Groups) -> dict[str, Any]:
    return {"groups": [[topic, ids] for topic, ids in groups]}


def groups_of(content: Mapping[str, Any] | None) -> Groups:
    return [(int(topic), [int(i) for i in ids]) for topic, ids in (content or {}).get("groups", [])]


def variant_key(content: Mapping[str, Any] | None) -> str:
    """Members whose copies hold the same content share one rendering."""
    return json.dumps(content or {}, sort_keys=True, separators=(",", ":"))

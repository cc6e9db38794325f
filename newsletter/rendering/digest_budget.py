"""How much of a long digest is shown in full, and where the rest can be read.

Gmail clips an email's HTML past ~102 KB, and what it hides first is the footer with the
unsubscribe link. A digest shows a fair share of each topic's articles and counts the rest,
linking to the website's archive filtered to the digest's topics and dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from newsletter.config import get_settings
from newsletter.rendering.views import TopicGroup


@dataclass(frozen=True)
class DigestPlan:
    shown: list[TopicGroup]
    total: int
    hidden: int


def plan_digest(groups: list[TopicGroup], limit: int) -> DigestPlan:
    """At most `limit` articles shown, shared out between the groups in turns (so that a long
    first topic does not push the others out), each group keeping its own order."""
    total = sum(len(group.articles) for group in groups)
    quota = [0] * len(groups)
    left = min(limit, total)
    while left:
        for index, group in enumerate(groups):
            if left and quota[index] < len(group.articles):
                quota[index] += 1
                left -= 1
    shown = [
        TopicGroup(group.slug, group.name, group.articles[:count])
        for group, count in zip(groups, quota, strict=True)
        if count
    ]
    return DigestPlan(shown, total, total - sum(quota))


def archive_url(groups: list[TopicGroup]) -> str:
    """The public archive showing the digest's topics over the dates its articles span."""
    dates = [a.first_published for g in groups for a in g.articles if a.first_published]
    query: list[tuple[str, str]] = [("topic", group.slug) for group in groups]
    if dates:
        query += [("since", min(dates).isoformat()), ("until", max(dates).isoformat())]
    return f"{get_settings().BASE_URL}/articles?{urlencode(query)}"

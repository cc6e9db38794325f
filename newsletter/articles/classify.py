"""Topic tagging: weighted phrases (the topic rules in the database) scored against an article.

A phrase written with capitals ("GCSE", "A level", "Ofqual") matches with that case, so that
"a level playing field" is not about exams; an all-lower-case phrase matches in any case.
Plurals and possessives of the last word match too ("NPQs", "trainees", "grants").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

TITLE_FACTOR = 3.0  # a phrase in the title says more about the article than one in the body
BODY_HITS_CAP = 5  # beyond this, repeating one word adds nothing
THRESHOLD = 6.0  # a topic scoring at least this is assigned
RELATIVE_THRESHOLD = 0.25  # ...if it also has at least this share of the best topic's score


@dataclass(frozen=True)
class Rule:
    topic: str
    phrase: str
    weight: float


@dataclass(frozen=True)
class Evidence:
    phrase: str
    weight: float
    title_hits: int
    body_hits: int

    @property
    def points(self) -> float:
        return self.weight * (TITLE_FACTOR * self.title_hits + min(self.body_hits, BODY_HITS_CAP))

    def as_dict(self) -> dict[str, Any]:
        return {
            "phrase": self.phrase,
            "weight": self.weight,
            "title": self.title_hits,
            "body": self.body_hits,
            "points": round(self.points, 2),
        }


@dataclass(frozen=True)
class TopicScore:
    topic: str
    score: float
    evidence: tuple[Evidence, ...]


@lru_cache(maxsize=1024)
def phrase_pattern(phrase: str) -> re.Pattern[str]:
    words = phrase.split()
    core = r"[\s\-]+".join(re.escape(word) for word in words)
    start = r"(?<!\w)" if phrase[:1].isalnum() else ""
    end = r"(?:s|es|'s|’s)?(?!\w)" if phrase[-1:].isalnum() else ""
    flags = 0 if any(ch.isupper() for ch in phrase) else re.IGNORECASE
    return re.compile(start + core + end, flags)


def count(phrase: str, text: str) -> int:
    if not phrase.strip():
        return 0
    return len(phrase_pattern(phrase.strip()).findall(text))


def classify(title: str, body: str, rules: Iterable[Rule]) -> list[TopicScore]:
    """Every topic with any evidence, best first (ties by name), with the phrases that matched."""
    evidence: dict[str, list[Evidence]] = {}
    for rule in rules:
        hits = Evidence(
            rule.phrase, rule.weight, count(rule.phrase, title), count(rule.phrase, body)
        )
        if hits.title_hits or hits.body_hits:
            evidence.setdefault(rule.topic, []).append(hits)
    scores = [
        TopicScore(
            topic,
            round(sum(e.points for e in items), 2),
            tuple(sorted(items, key=lambda e: (-e.points, e.phrase))),
        )
        for topic, items in evidence.items()
    ]
    return sorted((s for s in scores if s.score > 0), key=lambda s: (-s.score, s.topic))


def assigned_topics(scores: list[TopicScore], threshold: float = THRESHOLD) -> list[str]:
    """The topics an article is tagged with: strong evidence, and not a stray mention."""
    if not scores:
        return []
    best = scores[0].score
    return [
        s.topic for s in scores if s.score >= threshold and s.score >= RELATIVE_THRESHOLD * best
    ]

"""Plain, frozen views of what an email shows, so templates never touch the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from newsletter.config import get_settings
from newsletter.models import Article
from newsletter.rendering.formatting import british_date, deadline_label


@dataclass(frozen=True)
class Recipient:
    member_id: int
    email: str
    name: str
    token_version: int
    # (topic name, frequency) of the member's subscriptions the email is sent for; None when
    # the recipient is not a member, as for a staff test copy.
    follows: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class DeadlineView:
    date: date
    precision: str  # "day" or "month"
    kind: str  # "opens", "closes", "effective" or "announcement"
    text: str = ""
    deadline_id: int | None = None  # the stored deadline's (for its calendar event)

    @property
    def label(self) -> str:
        """The badge: "Closes 27 March 2020"."""
        return deadline_label(self.kind, self.date, self.precision)


@dataclass(frozen=True)
class ArticleView:
    id: int
    title: str
    summary: str
    body_html: str
    url: str
    topics: list[str] = field(default_factory=list)
    deadlines: list[DeadlineView] = field(default_factory=list)
    first_published: date | None = None
    priority: str = "normal"

    @property
    def is_breaking(self) -> bool:
        return self.priority == "breaking"

    @property
    def badge_labels(self) -> list[str]:
        """Topic names, then deadlines ("Closes 27 March 2020")."""
        return [*self.topics, *(deadline.label for deadline in self.deadlines)]

    @property
    def published_label(self) -> str:
        return british_date(self.first_published) if self.first_published else ""

    @classmethod
    def from_model(cls, article: Article, topic_names: dict[int, str]) -> ArticleView:
        """A view of a stored article; topic_names maps topic id to the name members see."""
        return cls(
            id=article.id,
            title=article.title,
            summary=article.summary or "",
            body_html=article.body_html or "",
            url=article_url(article.id),
            topics=[
                topic_names[link.topic_id]
                for link in article.topics
                if link.assigned and link.topic_id in topic_names
            ],
            deadlines=[
                DeadlineView(
                    date=deadline.date,
                    precision=str(deadline.precision),
                    kind=str(deadline.kind),
                    text=deadline.text or "",
                    deadline_id=deadline.id,
                )
                for deadline in article.deadlines
            ],
            first_published=article.first_published,
            priority=str(article.priority or "normal"),
        )


@dataclass(frozen=True)
class TopicGroup:
    slug: str
    name: str
    articles: list[ArticleView]


def article_url(article_id: int) -> str:
    return f"{get_settings().BASE_URL}/articles/{article_id}"

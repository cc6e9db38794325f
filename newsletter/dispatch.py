"""The one door from the services to the task queue.

Services call these after their transaction commits; only here does `newsletter` reach into
`workers`, and lazily, so every service can be used and tested without a broker.
"""

from __future__ import annotations


def article_published(article_id: int) -> None:
    """An article has just been published: fan its alert out to the audience."""
    from workers.tasks import fan_out_article

    fan_out_article.delay(article_id)

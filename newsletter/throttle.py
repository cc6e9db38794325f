"""Rate limits kept in the database, so every web worker process counts the same attempts.

A bucket is a string such as "login:ip:127.0.0.1"; a limit allows `limit` hits per `window`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from newsletter.models import ThrottleHit, utcnow

# Hits older than this are never counted by any limit and can be deleted.
KEEP = timedelta(days=1)
PRUNE_EVERY = 100


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window: timedelta

    def bucket(self, key: str) -> str:
        return f"{self.name}:{key.lower()}"[:400]


def count(session: Session, limit: Limit, key: str, now: datetime | None = None) -> int:
    since = (now or utcnow()) - limit.window
    return (
        session.scalar(
            select(func.count())
            .select_from(ThrottleHit)
            .where(ThrottleHit.bucket == limit.bucket(key), ThrottleHit.created_at > since)
        )
        or 0
    )


def exceeded(session: Session, limit: Limit, key: str, now: datetime | None = None) -> bool:
    return count(session, limit, key, now) >= limit.limit


def hit(session: Session, limit: Limit, key: str, now: datetime | None = None) -> None:
    row = ThrottleHit(bucket=limit.bucket(key), created_at=now or utcnow())
    session.add(row)
    session.flush()
    if row.id % PRUNE_EVERY == 0:  # now and then, forget what no limit looks at any more
        prune(session, now)


def take(session: Session, limit: Limit, key: str, now: datetime | None = None) -> bool:
    """Count one attempt if the limit allows it; False (and nothing counted) when it does not."""
    if exceeded(session, limit, key, now):
        return False
    hit(session, limit, key, now)
    return True


def clear(session: Session, limit: Limit, key: str) -> None:
    session.execute(delete(ThrottleHit).where(ThrottleHit.bucket == limit.bucket(key)))


def prune(session: Session, now: datetime | None = None) -> int:
    result = session.execute(
        delete(ThrottleHit).where(ThrottleHit.created_at < (now or utcnow()) - KEEP)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

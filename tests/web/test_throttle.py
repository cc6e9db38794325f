"""The rate limits kept in the database: counted per bucket within a window, then forgotten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter import throttle
from newsletter.models import ThrottleHit

LIMIT = throttle.Limit("test", 2, timedelta(minutes=10))
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_limit_counts_hits_in_its_window_per_key(session: Session) -> None:
    assert throttle.take(session, LIMIT, "Ann@Example.com", NOON)
    assert throttle.take(session, LIMIT, "ann@example.com", NOON)  # keys ignore case
    assert not throttle.take(session, LIMIT, "ann@example.com", NOON)
    assert throttle.take(session, LIMIT, "bob@example.com", NOON)
    later = NOON + timedelta(minutes=11)
    assert throttle.take(session, LIMIT, "ann@example.com", later)

    throttle.clear(session, LIMIT, "bob@example.com")
    assert throttle.count(session, LIMIT, "bob@example.com", NOON) == 0


def test_old_hits_are_pruned(session: Session) -> None:
    throttle.hit(session, LIMIT, "old", NOON - timedelta(days=2))
    throttle.hit(session, LIMIT, "new", NOON)
    assert throttle.prune(session, NOON) == 1
    assert session.scalar(select(func.count()).select_from(ThrottleHit)) == 1

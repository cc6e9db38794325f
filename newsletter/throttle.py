"""Rate limits kept in the database, so every web worker process counts the same attempts.

A bucket is a string such as "login:client:127.0.0.1"; a limit allows `limit` hits per `window`.
Keys are normalised first (`address_key`, `client_key`), so that what one person controls
(the +tag of their address, the host part of their IPv6 /64) cannot buy more attempts, and
one person's address is one bucket however it is typed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from newsletter.models import ThrottleHit, utcnow

# Hits older than this are never counted by any limit and can be deleted.
KEEP = timedelta(days=1)
PRUNE_EVERY = 100


def address_key(email: str) -> str:
    """An email address as a limit counts it: case folded, the local part's +tag dropped
    (victim+a@ and victim+b@ reach one mailbox, so they share one allowance)."""
    local, at, domain = email.strip().lower().rpartition("@")
    if not at:
        return domain
    return f"{local.split('+', 1)[0]}@{domain}"


def client_key(host: str) -> str:
    """A client address as a limit counts it: IPv6 by its /64 (the block one subscriber is
    given, and can rotate through at will), an IPv4-mapped IPv6 address as the IPv4 one."""
    try:
        ip = ipaddress.ip_address(host.strip().strip("[]"))
    except ValueError:
        return host.strip().lower()
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window: timedelta
    key: Callable[[str], str] = field(default=str.lower)

    def bucket(self, key: str) -> str:
        return f"{self.name}:{self.key(key)}"[:400]


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


def recent(
    session: Session, limit: Limit, key: str, now: datetime | None = None
) -> tuple[int, datetime | None]:
    """How many hits the bucket has in the window, and when the last one was."""
    since = (now or utcnow()) - limit.window
    found = session.execute(
        select(func.count(), func.max(ThrottleHit.created_at)).where(
            ThrottleHit.bucket == limit.bucket(key), ThrottleHit.created_at > since
        )
    ).one()
    last = found[1]
    if isinstance(last, str):  # SQLite hands back MAX() of a datetime column as text
        last = datetime.fromisoformat(last)
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    return int(found[0] or 0), last


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

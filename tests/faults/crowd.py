"""Thousands of active members in one statement each, for the fault scenarios.

tests/support/delivery_data.add_member makes one member at a time through the ORM, which is
right for a handful and too slow for 5,000; this writes the same rows in bulk.
"""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.orm import Session

from newsletter.models import Frequency, Member, MemberStatus, Subscription, utcnow
from tests.support.delivery_data import LONG_AGO, topic_ids


def address(prefix: str, number: int) -> str:
    return f"{prefix}{number:05d}@example.com"


def add_crowd(session: Session, count: int, topics: dict[str, str], prefix: str = "m") -> list[str]:
    """`count` active members, each subscribed to `topics` ({slug: frequency}); their addresses."""
    now = utcnow()
    addresses = [address(prefix, n) for n in range(1, count + 1)]
    member_ids = session.scalars(
        insert(Member).returning(Member.id, sort_by_parameter_order=True),
        [
            {
                "email": email,
                "name": f"Member {email.split('@')[0]}",
                "role": "SENCO",
                "status": MemberStatus.ACTIVE,
                "paused": False,
                "token_version": 1,
                "created_at": now,
                "updated_at": now,
                "confirmed_at": now,
            }
            for email in addresses
        ],
    ).all()
    ids = topic_ids(session)
    session.execute(
        insert(Subscription),
        [
            {
                "member_id": member_id,
                "topic_id": ids[slug],
                "frequency": Frequency(frequency),
                "created_at": LONG_AGO,
            }
            for member_id in member_ids
            for slug, frequency in topics.items()
        ],
    )
    return addresses

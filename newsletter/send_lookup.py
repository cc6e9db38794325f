"""What the console shows about sends beyond their delivery counts: their statuses, and how
many members a scheduled one would reach now."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.audience import Audience
from newsletter.delivery.eligibility import member_in_audience, member_may_receive
from newsletter.models import Member, Send, SendStatus


def statuses_of(session: Session, send_ids: Collection[int]) -> dict[int, SendStatus]:
    """The status of each of these sends that exists."""
    return dict(session.execute(select(Send.id, Send.status).where(Send.id.in_(send_ids))).all())


def members_reached(session: Session, audience: Audience) -> int:
    """How many members `audience` reaches now (those who may receive mail and are in it)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Member)
            .where(member_may_receive(), member_in_audience(audience))
        )
        or 0
    )

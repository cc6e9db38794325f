"""What the console shows of the return path: the events (search, filter, evidence), each
send's bounce and complaint rates, a member's history, policy blocks per receiving domain."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from newsletter.inbound.causes import Cause
from newsletter.models import InboundEvent, InboundKind, utcnow

# Gmail's bulk sender guidelines: keep complaints under 0.1%, never reach 0.3%.
COMPLAINT_WARNING = 0.001
COMPLAINT_ALERT = 0.003


def find_events(
    session: Session, search: str = "", kind: str = "", page: int = 1, page_size: int = 50
) -> tuple[list[InboundEvent], int]:
    """Events newest first, with the total: `search` in the address, subject, diagnostic or
    reason; `kind` one of InboundKind."""
    query = select(InboundEvent)
    if search.strip():
        term = search.strip()
        query = query.where(
            or_(
                InboundEvent.email.contains(term.lower(), autoescape=True),
                InboundEvent.subject.contains(term, autoescape=True),
                InboundEvent.diagnostic.contains(term, autoescape=True),
                InboundEvent.reason.contains(term, autoescape=True),
            )
        )
    if kind in {k.value for k in InboundKind}:
        query = query.where(InboundEvent.kind == InboundKind(kind))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(InboundEvent.created_at.desc(), InboundEvent.id.desc())
        .offset((max(1, page) - 1) * page_size)
        .limit(page_size)
    )
    return list(rows), total


def get_event(session: Session, event_id: int) -> InboundEvent | None:
    return session.get(InboundEvent, event_id)


def member_history(session: Session, member_id: int, limit: int = 50) -> list[InboundEvent]:
    return list(
        session.scalars(
            select(InboundEvent)
            .where(InboundEvent.member_id == member_id)
            .order_by(InboundEvent.created_at.desc(), InboundEvent.id.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class SendRates:
    sent: int
    hard: int
    soft: int
    complaints: int

    @property
    def bounce_rate(self) -> float:
        return (self.hard + self.soft) / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0

    @property
    def level(self) -> str:
        """ "alert" above 0.3% complaints, "warning" above 0.1%, else "ok"."""
        if self.complaint_rate > COMPLAINT_ALERT:
            return "alert"
        if self.complaint_rate > COMPLAINT_WARNING:
            return "warning"
        return "ok"


def send_rates(session: Session, send_id: int, sent: int) -> SendRates:
    """Bounces and complaints that came back for one send, against its `sent` emails (from the
    counts the caller's page has already read: progress.delivery_counts)."""
    kinds = dict(
        session.execute(
            select(InboundEvent.kind, func.count(func.distinct(InboundEvent.member_id)))
            .where(InboundEvent.send_id == send_id)
            .group_by(InboundEvent.kind)
        ).all()
    )
    return SendRates(
        sent=sent or 0,
        hard=kinds.get(InboundKind.HARD_BOUNCE, 0),
        soft=kinds.get(InboundKind.SOFT_BOUNCE, 0),
        complaints=kinds.get(InboundKind.COMPLAINT, 0),
    )


@dataclass(frozen=True)
class DomainBlocks:
    domain: str
    blocks: int
    last: datetime
    example: str  # the latest diagnostic, to see what the receiver objects to


def policy_blocks(
    session: Session, days: int = 14, now: datetime | None = None
) -> list[DomainBlocks]:
    """Policy and spam blocks per receiving domain over the last `days`: our reputation,
    domain by domain (these never count against the members)."""
    since = (now or utcnow()) - timedelta(days=days)
    rows = session.execute(
        select(InboundEvent.domain, func.count(), func.max(InboundEvent.created_at))
        .where(
            InboundEvent.cause == Cause.POLICY.value,
            InboundEvent.created_at >= since,
            InboundEvent.domain != "",
        )
        .group_by(InboundEvent.domain)
        .order_by(func.count().desc(), InboundEvent.domain)
        .limit(20)
    ).all()
    result = []
    for domain, count, last in rows:
        example = session.scalar(
            select(InboundEvent.diagnostic)
            .where(InboundEvent.domain == domain, InboundEvent.cause == Cause.POLICY.value)
            .order_by(InboundEvent.created_at.desc())
            .limit(1)
        )
        result.append(DomainBlocks(domain, count, last, example or ""))
    return result


def recent_complaint_levels(session: Session, sent: Mapping[int, int]) -> dict[int, SendRates]:
    """Rates of the given sends ({send id: emails sent}) that have any bounce or complaint (for
    lists of sends)."""
    with_events = set(
        session.scalars(
            select(InboundEvent.send_id).where(InboundEvent.send_id.in_(list(sent))).distinct()
        )
    )
    return {i: send_rates(session, i, n) for i, n in sent.items() if i in with_events}

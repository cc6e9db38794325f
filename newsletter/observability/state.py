"""What the ledger says about the work in hand, in a few cheap queries: for `newsletter status`,
the scrape-time gauges of /metrics and the watch.

Only running sends (few) and those finished in the last day are looked into; their rows are
reached through their send ((send_id, member_id)), never by a scan of the whole ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from newsletter.config import Settings
from newsletter.delivery.progress import delivery_counts
from newsletter.models import Delivery, DeliveryStatus, Send, SendKind, SendStatus
from newsletter.scheduling import DIGEST_FREQUENCIES

RECENT = timedelta(days=1)


@dataclass
class LedgerState:
    sends_by_status: dict[str, int]
    running: list[int]  # ids of the sends now sending
    # Rows of running sends by status (pending, sending, deferred...), and failed rows of
    # running sends and of those finished in the last day.
    deliveries: dict[str, int]
    failed_recently: int
    stuck: int  # rows in `sending` claimed more than SENDING_TIMEOUT_SECONDS ago
    stuck_sends: list[int]
    oldest_pending_at: datetime | None
    last_digests: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    def oldest_pending_age(self, now: datetime) -> float:
        if self.oldest_pending_at is None:
            return 0.0
        return max(0.0, (now - self.oldest_pending_at).total_seconds())


def ledger_state(session: Session, now: datetime, settings: Settings) -> LedgerState:
    by_status = {
        SendStatus(status).value: count
        for status, count in session.execute(
            select(Send.status, func.count()).group_by(Send.status)
        )
    }
    running = list(session.scalars(select(Send.id).where(Send.status == SendStatus.SENDING)))
    recent = list(
        session.scalars(
            select(Send.id).where(
                Send.status.in_([SendStatus.SENT, SendStatus.FAILED]),
                Send.finished_at >= now - RECENT,
            )
        )
    )
    counts = delivery_counts(session, running)
    deliveries = {status.value: 0 for status in DeliveryStatus}
    for per_send in counts.values():
        for status, count in per_send.items():
            deliveries[status] += count
    failed_recently = deliveries[DeliveryStatus.FAILED.value] + sum(
        per_send[DeliveryStatus.FAILED.value]
        for per_send in delivery_counts(session, recent).values()
    )
    stuck_sends = stuck_rows(session, running, now, settings)
    return LedgerState(
        sends_by_status=by_status,
        running=running,
        deliveries=deliveries,
        failed_recently=failed_recently,
        stuck=sum(stuck_sends.values()),
        stuck_sends=sorted(stuck_sends),
        oldest_pending_at=_oldest_pending(session, running),
        last_digests=last_digests(session),
    )


def stuck_rows(
    session: Session, running: list[int], now: datetime, settings: Settings
) -> dict[int, int]:
    """{send id: rows} claimed by a worker longer ago than SENDING_TIMEOUT_SECONDS and never
    answered (the worker died, or crashed on every batch)."""
    if not running:
        return {}
    before = now - timedelta(seconds=settings.SENDING_TIMEOUT_SECONDS)
    rows = session.execute(
        select(Delivery.send_id, func.count())
        .where(
            Delivery.send_id.in_(running),
            Delivery.status == DeliveryStatus.SENDING,
            Delivery.claimed_at < before,
        )
        .group_by(Delivery.send_id)
    )
    return {send_id: count for send_id, count in rows}


def _oldest_pending(session: Session, running: list[int]) -> datetime | None:
    """When the longest-waiting pending row became due (fan-out or its last retry)."""
    if not running:
        return None
    return session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            Delivery.send_id.in_(running), Delivery.status == DeliveryStatus.PENDING
        )
    )


def last_digests(session: Session) -> dict[str, dict[str, Any] | None]:
    """The latest digest send of each frequency: when it was made and how it went."""
    found: dict[str, dict[str, Any] | None] = {}
    for frequency in DIGEST_FREQUENCIES:
        send = session.scalars(
            select(Send)
            .where(Send.kind == SendKind.DIGEST, Send.key.like(f"digest:{frequency.value}:%"))
            .order_by(Send.created_at.desc(), Send.id.desc())
            .limit(1)
        ).first()
        found[frequency.value] = (
            None
            if send is None
            else {
                "send_id": send.id,
                "key": send.key,
                "status": send.status.value,
                "created_at": send.created_at,
                "finished_at": send.finished_at,
            }
        )
    return found


def sends_since(session: Session, since: datetime) -> list[int]:
    """Sends running, or finished after `since`."""
    return list(
        session.scalars(
            select(Send.id).where(or_(Send.status == SendStatus.SENDING, Send.finished_at >= since))
        )
    )

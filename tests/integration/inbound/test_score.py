"""Soft bounces are scored like Mailman's: SOFT_BOUNCE_LIMIT of them on different days within
SOFT_BOUNCE_DAYS suppress the address; a delivery that came through in between resets the
count; policy blocks and delays never count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.inbound.act import Incoming
from newsletter.inbound.causes import Cause
from newsletter.inbound.classify import Classification, Failure
from newsletter.inbound.process import process_classified
from newsletter.models import (
    Delivery,
    DeliveryStatus,
    InboundKind,
    Member,
    MemberStatus,
    Send,
    SendKind,
    SendStatus,
    Suppression,
    SuppressionReason,
)
from tests.support.delivery_data import add_member

DAY_ONE = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
EMAIL = "bea@example.net"


def sent(session: Session, member: Member, day: int, hour: int = 7) -> Delivery:
    """A send on day `day` that reached the member's server."""
    send = Send(kind=SendKind.ALERT, status=SendStatus.SENT, audience={"topic_ids": None})
    session.add(send)
    session.flush()
    delivery = Delivery(
        send_id=send.id,
        member_id=member.id,
        status=DeliveryStatus.SENT,
        message_id=f"<d{day}-{hour}-{send.id}@example.org>",
        sent_at=DAY_ONE + timedelta(days=day - 1, hours=hour - 7),
    )
    session.add(delivery)
    session.flush()
    return delivery


def bounce(delivery: Delivery, day: int, cause: Cause = Cause.MAILBOX_FULL, hour: int = 8) -> str:
    failure = Failure(EMAIL, EMAIL, InboundKind.SOFT_BOUNCE, cause, "4.2.2", "failed", "full")
    classified = Classification(
        InboundKind.SOFT_BOUNCE,
        "test",
        failures=(failure,),
        original_message_id=delivery.message_id or "",
    )
    key = f"test:{delivery.id}:{day}:{hour}"
    now = DAY_ONE + timedelta(days=day - 1, hours=hour - 7)
    [result] = process_classified(classified, Incoming(key, "file", ""), get_settings(), now)
    assert result.delivery_id == delivery.id
    return result.action


def suppressed() -> SuppressionReason | None:
    with session_scope() as session:
        return session.scalar(select(Suppression.reason).where(Suppression.email == EMAIL))


def member_with_deliveries(days: list[int]) -> list[Delivery]:
    with session_scope() as session:
        member = add_member(session, EMAIL, {"funding": "daily"})
        deliveries = [sent(session, member, day) for day in days]
        session.expunge_all()
    return deliveries


def test_five_soft_bounces_on_different_days_suppress(db_url: str) -> None:
    deliveries = member_with_deliveries([1, 2, 3, 4, 5])
    actions = [bounce(d, day) for day, d in enumerate(deliveries, start=1)]
    assert actions[:4] == [
        f"soft bounce {n} of 5 (on different days within 14 days)" for n in range(1, 5)
    ]
    assert actions[4] == "suppressed (soft bounce)"
    assert suppressed() == SuppressionReason.SOFT_BOUNCE
    with session_scope() as session:
        member = session.scalar(select(Member).where(Member.email == EMAIL))
        assert member is not None and member.status == MemberStatus.BOUNCED


def test_soft_bounces_on_one_day_count_once(db_url: str) -> None:
    deliveries = member_with_deliveries([1, 1, 1, 1, 1, 1])
    for hour, delivery in enumerate(deliveries, start=8):
        bounce(delivery, 1, hour=hour)
    assert suppressed() is None


def test_a_delivery_that_came_through_resets_the_score(db_url: str) -> None:
    deliveries = member_with_deliveries([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    for day in (1, 2, 3, 4):
        bounce(deliveries[day - 1], day)
    # Day 5's email did not bounce: the mailbox was emptied.
    assert bounce(deliveries[5], 6).startswith("soft bounce 1 of 5")
    for day in (7, 8, 9):
        bounce(deliveries[day - 1], day)
    assert suppressed() is None
    assert bounce(deliveries[9], 10) == "suppressed (soft bounce)"


def test_old_soft_bounces_fall_out_of_the_window(db_url: str) -> None:
    deliveries = member_with_deliveries([1, 2, 3, 4, 20])
    for day in (1, 2, 3, 4):
        bounce(deliveries[day - 1], day)
    assert bounce(deliveries[4], 20).startswith("soft bounce 1 of 5")
    assert suppressed() is None


def test_policy_blocks_and_delays_never_suppress(db_url: str) -> None:
    deliveries = member_with_deliveries(list(range(1, 11)))
    for day, delivery in enumerate(deliveries, start=1):
        cause = Cause.POLICY if day % 2 else Cause.DELAYED
        action = bounce(delivery, day, cause)
        assert "suppressed" not in action
    assert suppressed() is None

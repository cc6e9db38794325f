"""A send's counts on the staff pages: a small send's are read afresh every time; a big one's
are kept COUNTS_REUSE_SECONDS, however many pages watch it (ADR 0025)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsletter.delivery import progress
from newsletter.models import Delivery, DeliveryStatus
from tests.support.delivery_data import add_member, fan_out_breaking
from tests.support.kept_answers import keep_from


def three_member_send(session: Session) -> int:
    for name in ("ann", "bob", "cat"):
        add_member(session, f"{name}@example.com", {"funding": "immediate"})
    return fan_out_breaking(session)


def mark_one(session: Session, send_id: int, status: DeliveryStatus, error: str = "") -> None:
    first = session.scalar(
        select(Delivery.id)
        .where(Delivery.send_id == send_id, Delivery.status == DeliveryStatus.PENDING)
        .order_by(Delivery.id)
        .limit(1)
    )
    session.execute(
        update(Delivery).where(Delivery.id == first).values(status=status, last_error=error)
    )
    session.commit()


def test_a_small_sends_counts_are_read_afresh(session: Session) -> None:
    send_id = three_member_send(session)
    assert progress.delivery_counts(session, [send_id])[send_id]["pending"] == 3
    mark_one(session, send_id, DeliveryStatus.SENT)

    counts = progress.delivery_counts(session, [send_id])[send_id]
    assert (counts["pending"], counts["sent"]) == (2, 1)


def test_a_big_sends_counts_and_errors_are_kept_a_moment(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = keep_from(monkeypatch, 3)  # "big" from three rows, to keep the test small
    send_id = three_member_send(session)
    mark_one(session, send_id, DeliveryStatus.DEFERRED, "451 try later")
    first = progress.describe_send(session, send_id)
    mark_one(session, send_id, DeliveryStatus.FAILED, "550 no such user")

    clock.advance(progress.COUNTS_REUSE_SECONDS - 0.1)
    kept = progress.describe_send(session, send_id)
    clock.advance(0.1)
    fresh = progress.describe_send(session, send_id)

    assert first is not None and kept is not None and fresh is not None
    assert kept.counts == first.counts and kept.counts["failed"] == 0
    assert kept.last_errors == {"deferred": "451 try later"}
    assert (fresh.counts["failed"], fresh.counts["pending"]) == (1, 1)
    assert fresh.last_errors == {"deferred": "451 try later", "failed": "550 no such user"}


def test_a_send_not_kept_yet_is_counted_beside_a_kept_one(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep_from(monkeypatch, 3)  # and the clock stands still
    kept = three_member_send(session)
    progress.delivery_counts(session, [kept])
    add_member(session, "dan@example.com", {"funding": "immediate"})
    other = fan_out_breaking(session, "Another")
    mark_one(session, other, DeliveryStatus.SENT)
    mark_one(session, kept, DeliveryStatus.SENT)

    counts = progress.delivery_counts(session, [kept, other])
    assert (counts[kept]["pending"], counts[kept]["sent"]) == (3, 0)
    assert (counts[other]["pending"], counts[other]["sent"]) == (3, 1)

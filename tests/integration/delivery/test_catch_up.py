"""Work beat or a worker missed is made once later: the digest due (a run killed half way, beat
down for days, a clock moved back) and an alert whose fan-out never committed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.delivery import digests, jobs
from newsletter.delivery.alerts import alert_key
from newsletter.inline import inline
from newsletter.models import Delivery, Frequency, Member, Priority, Send, SendKind
from tests.support.delivery_data import add_article, add_member

# 07:00 London is 07:00 UTC in winter; the daily digest is due then.
TUESDAY_7AM = datetime(2026, 12, 8, 7, tzinfo=UTC)
HOURS_2 = timedelta(hours=2)


def digests_made() -> dict[str, int]:
    """{send key: deliveries} of every daily digest send."""
    with session_scope() as session:
        sends = session.execute(
            select(Send.id, Send.key).where(
                Send.kind == SendKind.DIGEST, Send.key.startswith("digest:daily:")
            )
        )
        return {
            str(key): len(session.scalars(select(Delivery.id).where(Delivery.send_id == id_)).all())
            for id_, key in sends.all()
        }


def articles_in(key: str, address: str) -> list[int]:
    with session_scope() as session:
        content = session.scalar(
            select(Delivery.content)
            .join(Send, Send.id == Delivery.send_id)
            .join(Member, Member.id == Delivery.member_id)
            .where(Send.key == key, Member.email == address)
        )
    return [article for _, ids in (content or {"groups": []})["groups"] for article in ids]


def test_beat_down_for_days_makes_the_latest_digest_once_with_all_that_was_missed(
    session: Session,
) -> None:
    add_member(session, "ann@example.com", {"funding": "daily"})
    friday = add_article(session, "Friday", ["funding"], published_at=TUESDAY_7AM - timedelta(4))
    sunday = add_article(session, "Sunday", ["funding"], published_at=TUESDAY_7AM - timedelta(2))
    session.commit()
    with inline():
        jobs.due_digests(TUESDAY_7AM - timedelta(days=4, hours=1))  # Friday 06:00: Thursday's
        # Beat stopped; it comes back on Tuesday at 09:30 and asks every minute from then on.
        for minute in range(3):
            jobs.due_digests(TUESDAY_7AM + timedelta(hours=2, minutes=30 + minute))

    assert digests_made() == {"digest:daily:2026-12-03": 0, "digest:daily:2026-12-08": 1}
    assert articles_in("digest:daily:2026-12-08", "ann@example.com") == [friday.id, sunday.id]


def test_a_digest_run_that_never_committed_is_made_by_the_next_check(session: Session) -> None:
    add_member(session, "ann@example.com", {"funding": "daily"})
    add_article(session, "Monday", ["funding"], published_at=TUESDAY_7AM - timedelta(hours=20))
    session.commit()

    # The run at 07:00 is killed half way: its transaction rolls back, as if it never ran.
    with pytest.raises(RuntimeError), session_scope() as doomed:
        digests.run_digest(doomed, Frequency.DAILY, TUESDAY_7AM, get_settings())
        raise RuntimeError("SIGKILL")
    assert digests_made() == {}
    with inline():
        made = jobs.due_digests(TUESDAY_7AM + timedelta(minutes=1))
        again = jobs.due_digests(TUESDAY_7AM + timedelta(minutes=2))

    assert "2026-12-08" in [run.period for run in made] and again == []
    assert digests_made() == {"digest:daily:2026-12-08": 1}


def test_a_clock_moved_back_over_the_digest_hour_makes_no_second_digest(session: Session) -> None:
    add_member(session, "ann@example.com", {"funding": "daily"})
    add_article(session, "Monday", ["funding"], published_at=TUESDAY_7AM - timedelta(hours=20))
    session.commit()
    moments = [
        TUESDAY_7AM - timedelta(minutes=30),  # 06:30: Monday's digest is the latest due
        TUESDAY_7AM + timedelta(minutes=30),  # jumped forward an hour: 07:30
        TUESDAY_7AM - timedelta(minutes=29),  # and back: 06:31
        TUESDAY_7AM + timedelta(minutes=1),  # 07:01 again
    ]
    with inline():
        for moment in moments:
            jobs.due_digests(moment)

    assert digests_made() == {"digest:daily:2026-12-07": 0, "digest:daily:2026-12-08": 1}


def test_a_service_started_after_the_digest_hour_makes_no_digest_for_before_its_members(
    session: Session,
) -> None:
    # A fresh service: its first member subscribes on Tuesday at 09:00, after the hour. Beat
    # owes nobody Tuesday's digest (nor Monday's), as the watch judges it (watch.py).
    add_member(
        session, "ann@example.com", {"funding": "daily"}, subscribed_at=TUESDAY_7AM + HOURS_2
    )
    add_article(session, "Tuesday", ["funding"], published_at=TUESDAY_7AM + timedelta(hours=5))
    session.commit()
    with inline():
        before = jobs.due_digests(TUESDAY_7AM + HOURS_2 + timedelta(minutes=1))
        wednesday = jobs.due_digests(TUESDAY_7AM + timedelta(days=1, minutes=1))

    assert before == []
    assert [run.period for run in wednesday] == ["2026-12-09"]
    assert digests_made() == {"digest:daily:2026-12-09": 1}


def test_an_alert_whose_fan_out_never_committed_is_fanned_out_by_the_sweep(
    session: Session,
) -> None:
    add_member(session, "ann@example.com", {"funding": "immediate"})
    lost = add_article(session, "Pay award", ["funding"], priority=Priority.BREAKING)
    session.commit()
    published = lost.published_at
    assert published is not None

    with inline():
        jobs.sweep(published + timedelta(minutes=59))  # it may still be on its way
        assert send_ids(alert_key(lost.id)) == []
        jobs.sweep(published + timedelta(hours=1, minutes=1))  # REQUEUE_PENDING_AFTER_SECONDS
        jobs.sweep(published + timedelta(hours=1, minutes=2))

    assert len(send_ids(alert_key(lost.id))) == 1


def send_ids(key: str) -> list[int]:
    with session_scope() as session:
        return list(session.scalars(select(Send.id).where(Send.key == key)))

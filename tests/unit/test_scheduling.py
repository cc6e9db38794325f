"""When things are due: digest periods, reminders at 08:00 London, scheduled sends, retries."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from newsletter.models import Frequency
from newsletter.scheduling import (
    Backoff,
    Due,
    SchedulingError,
    check_passed,
    check_schedulable,
    days_left,
    digest_due_at,
    digest_key,
    due_reminder,
    parse_local,
    reminder_due_at,
    scheduled_state,
)

LONDON = ZoneInfo("Europe/London")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_daily_period_is_the_london_day_not_the_utc_day() -> None:
    # 23:30 UTC on 30 June is already 1 July in London (BST).
    assert (
        digest_key(Frequency.DAILY, utc(2026, 6, 30, 23, 30), LONDON) == "digest:daily:2026-07-01"
    )
    assert (
        digest_key(Frequency.DAILY, utc(2026, 12, 31, 23, 30), LONDON) == "digest:daily:2026-12-31"
    )


def test_weekly_period_is_the_iso_week_and_same_all_week() -> None:
    monday = utc(2026, 11, 23, 7)
    sunday = utc(2026, 11, 29, 20)
    assert digest_key(Frequency.WEEKLY, monday, LONDON) == "digest:weekly:2026-W48"
    assert digest_key(Frequency.WEEKLY, sunday, LONDON) == "digest:weekly:2026-W48"
    assert digest_key(Frequency.WEEKLY, utc(2027, 1, 1, 12), LONDON) == "digest:weekly:2026-W53"


def test_no_digest_for_immediate() -> None:
    with pytest.raises(SchedulingError):
        digest_key(Frequency.IMMEDIATE, utc(2026, 1, 1), LONDON)


def test_digest_due_at_seven_london_in_winter_and_summer() -> None:
    winter = digest_due_at(Frequency.DAILY, utc(2026, 1, 14, 12), LONDON, 7, 0)
    summer = digest_due_at(Frequency.DAILY, utc(2026, 7, 14, 12), LONDON, 7, 0)
    assert winter == utc(2026, 1, 14, 7)
    assert summer == utc(2026, 7, 14, 6)
    weekly = digest_due_at(Frequency.WEEKLY, utc(2026, 11, 26, 12), LONDON, 7, 0)
    assert weekly == utc(2026, 11, 23, 7)  # the Monday of that week


def test_reminder_due_at_eight_london_days_before() -> None:
    assert reminder_due_at(date(2026, 7, 10), 7, LONDON, 8) == utc(2026, 7, 3, 7)
    assert reminder_due_at(date(2026, 1, 10), 1, LONDON, 8) == utc(2026, 1, 9, 8)


def test_reminder_is_due_from_its_time_for_one_day_only() -> None:
    deadline = date(2026, 3, 20)
    days = [7, 1]
    assert due_reminder(deadline, days, utc(2026, 3, 13, 7, 59), LONDON, 8) is None
    assert due_reminder(deadline, days, utc(2026, 3, 13, 8, 0), LONDON, 8) == 7
    assert due_reminder(deadline, days, utc(2026, 3, 14, 7, 59), LONDON, 8) == 7
    # Three days before: the 7-day reminder is not sent late, the 1-day one is not due yet.
    assert due_reminder(deadline, days, utc(2026, 3, 17, 9), LONDON, 8) is None
    assert due_reminder(deadline, days, utc(2026, 3, 19, 8, 30), LONDON, 8) == 1


def test_a_past_deadline_is_never_reminded() -> None:
    assert due_reminder(date(2026, 3, 20), [7, 1, 0], utc(2026, 3, 21, 8, 30), LONDON, 8) is None


def test_days_left_counts_london_days() -> None:
    assert days_left(date(2026, 3, 20), utc(2026, 3, 13, 8), LONDON) == 7


def test_parse_local_reads_london_time_and_keeps_offsets() -> None:
    assert parse_local("2026-07-01 09:30", LONDON) == utc(2026, 7, 1, 8, 30)
    assert parse_local("2026-01-01 09:30", LONDON) == utc(2026, 1, 1, 9, 30)
    assert parse_local("2026-01-01T09:30:00+02:00", LONDON) == utc(2026, 1, 1, 7, 30)


def test_parse_local_refuses_nonsense_and_skipped_times() -> None:
    with pytest.raises(SchedulingError, match="not a date and time"):
        parse_local("next tuesday", LONDON)
    with pytest.raises(SchedulingError, match="does not exist"):
        parse_local("2026-03-29 01:30", LONDON)  # clocks go from 01:00 to 02:00


def test_scheduled_state_waits_is_due_then_missed_after_grace() -> None:
    at = utc(2026, 5, 1, 9)
    grace = timedelta(minutes=30)
    assert scheduled_state(at, at - timedelta(seconds=1), grace) == Due.WAIT
    assert scheduled_state(at, at, grace) == Due.DUE
    assert scheduled_state(at, at + timedelta(minutes=30), grace) == Due.DUE
    assert scheduled_state(at, at + timedelta(minutes=31), grace) == Due.MISSED


def test_scheduling_in_the_past_is_refused() -> None:
    now = utc(2026, 5, 1, 9)
    with pytest.raises(SchedulingError, match="in the past"):
        check_schedulable(now - timedelta(minutes=1), now)
    check_schedulable(now + timedelta(minutes=1), now)


def test_backoff_doubles_with_bounded_jitter_then_gives_up() -> None:
    backoff = Backoff(max_attempts=5, base_seconds=240, jitter=0.2)
    now = utc(2026, 5, 1, 9)
    rng = random.Random(7)
    for attempts, minutes in [(1, 4), (2, 8), (3, 16), (4, 32)]:
        delay = backoff.next_attempt(attempts, now, rng) - now  # type: ignore[operator]
        assert timedelta(minutes=minutes * 0.8) <= delay <= timedelta(minutes=minutes * 1.2)
    assert backoff.next_attempt(5, now, rng) is None
    assert backoff.total_span() == timedelta(minutes=60)


def test_backoff_jitter_spreads_retries() -> None:
    backoff = Backoff(jitter=0.2)
    now = utc(2026, 5, 1, 9)
    rng = random.Random(1)
    assert len({backoff.next_attempt(1, now, rng) for _ in range(20)}) > 1


def test_an_as_of_time_must_have_passed() -> None:
    now = datetime(2026, 11, 29, 21, 0, tzinfo=UTC)
    assert check_passed(now, now) == now
    assert check_passed(now - timedelta(days=400), now) == now - timedelta(days=400)
    with pytest.raises(SchedulingError, match="still to come"):
        check_passed(now + timedelta(seconds=1), now)

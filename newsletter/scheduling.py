"""When things are due: pure functions of "now" (digests, reminders, scheduled sends, retries).

Every datetime going in or out is timezone-aware; local wall-clock rules (07:00 digests, 08:00
reminders, "YYYY-MM-DD HH:MM" from staff) are applied in the configured zone, so a change of
clocks in spring or autumn moves nothing by an hour.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from newsletter.models import Frequency

DIGEST_FREQUENCIES = (Frequency.DAILY, Frequency.WEEKLY)


class SchedulingError(ValueError):
    pass


def require_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise SchedulingError("a naive datetime reached the scheduler")
    return moment


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    return require_aware(moment).astimezone(tz).date()


def at_local(day: date, hour: int, tz: ZoneInfo, minute: int = 0) -> datetime:
    """The UTC instant of a wall-clock time on a local day."""
    return datetime.combine(day, time(hour, minute), tzinfo=tz).astimezone(UTC)


def parse_local(text: str, tz: ZoneInfo) -> datetime:
    """Read "YYYY-MM-DD HH:MM" (or any ISO 8601) as local time unless it carries an offset."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SchedulingError(f"{text!r} is not a date and time like 2026-03-02 09:30") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
        # A wall-clock time skipped when the clocks go forward does not exist.
        if moment.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != moment.replace(
            tzinfo=None
        ):
            raise SchedulingError(f"{text} does not exist in {tz.key} (the clocks go forward)")
    return moment.astimezone(UTC)


def check_passed(moment: datetime, now: datetime) -> datetime:
    """A time to act "as of" must have come: a digest run as of a time to come would count
    the articles published until then as covered, and they would reach no digest; a reminder
    would go early, counting the days from the wrong day."""
    if require_aware(moment) > now:
        raise SchedulingError("that time is still to come; give one that has passed")
    return moment


# Digests -----------------------------------------------------------------------------------


def digest_period(frequency: Frequency, now: datetime, tz: ZoneInfo) -> str:
    """The period a digest run at `now` belongs to: a local day, or an ISO week."""
    day = local_date(now, tz)
    if frequency == Frequency.DAILY:
        return day.isoformat()
    if frequency == Frequency.WEEKLY:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    raise SchedulingError(f"there is no digest for frequency {frequency.value!r}")


def digest_key(frequency: Frequency, now: datetime, tz: ZoneInfo) -> str:
    return f"digest:{frequency.value}:{digest_period(frequency, now, tz)}"


def digest_due_at(
    frequency: Frequency, now: datetime, tz: ZoneInfo, hour: int, weekday: int
) -> datetime:
    """When the digest of the period containing `now` is due (beat runs it then)."""
    day = local_date(now, tz)
    if frequency == Frequency.WEEKLY:
        day -= timedelta(days=day.weekday())
        day += timedelta(days=weekday)
    elif frequency != Frequency.DAILY:
        raise SchedulingError(f"there is no digest for frequency {frequency.value!r}")
    return at_local(day, hour, tz)


# Deadline reminders ------------------------------------------------------------------------


def reminder_key(deadline_id: int, days_before: int) -> str:
    return f"reminder:{deadline_id}:{days_before}"


def reminder_due_at(deadline_day: date, days_before: int, tz: ZoneInfo, hour: int) -> datetime:
    return at_local(deadline_day - timedelta(days=days_before), hour, tz)


def due_reminder(
    deadline_day: date,
    days: list[int],
    now: datetime,
    tz: ZoneInfo,
    hour: int,
    window: timedelta = timedelta(days=1),
) -> int | None:
    """Which reminder (days before) of a deadline is due at `now`, if any.

    A reminder is due from its time for one `window`, long enough to survive a stopped beat for
    a while, short enough that "7 days left" is never sent when it is 3; a deadline that has
    passed is never reminded.
    """
    if deadline_day < local_date(now, tz):
        return None
    for before in sorted(set(days)):
        due = reminder_due_at(deadline_day, before, tz, hour)
        if due <= now < due + window:
            return before
    return None


def days_left(deadline_day: date, now: datetime, tz: ZoneInfo) -> int:
    return (deadline_day - local_date(now, tz)).days


# Scheduled sends ---------------------------------------------------------------------------


class Due(enum.StrEnum):
    WAIT = "wait"
    DUE = "due"
    MISSED = "missed"


def scheduled_state(scheduled_at: datetime, now: datetime, grace: timedelta) -> Due:
    """A send whose time passed more than `grace` ago is missed, not sent silently late."""
    if require_aware(now) < scheduled_at:
        return Due.WAIT
    if now - scheduled_at > grace:
        return Due.MISSED
    return Due.DUE


def check_schedulable(scheduled_at: datetime, now: datetime) -> None:
    if scheduled_at <= now:
        raise SchedulingError("that time is in the past; choose a time still to come")


# Retries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: base, 2*base, 4*base... for max_attempts tries in all."""

    max_attempts: int = 5
    base_seconds: float = 240.0
    jitter: float = 0.2

    def next_attempt(
        self, attempts: int, now: datetime, rng: random.Random | None = None
    ) -> datetime | None:
        """After `attempts` tries, when to try again; None when the tries are used up."""
        if attempts >= self.max_attempts:
            return None
        delay = self.base_seconds * 2 ** max(attempts - 1, 0)
        spread = (rng or random).uniform(1 - self.jitter, 1 + self.jitter)
        return require_aware(now) + timedelta(seconds=delay * spread)

    def total_span(self) -> timedelta:
        """How long a delivery keeps being retried at most (without jitter)."""
        delays = (self.base_seconds * 2**i for i in range(self.max_attempts - 1))
        return timedelta(seconds=sum(delays))

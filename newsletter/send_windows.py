"""The organisation's send window for non-urgent email: pure functions of a moment.

A window is a set of weekdays and a local opening and closing time (default weekdays
07:00-19:00 Europe/London). A normal alert published outside it is held until it next opens
(ADR 0021). Times are wall-clock times in the window's zone, so a change of clocks in spring or
autumn moves no opening by an hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from newsletter.scheduling import at_local, local_date, require_aware
from newsletter.send_window_settings import WindowError, check_days, check_window, parse_clock

if TYPE_CHECKING:
    from newsletter.config import Settings

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class SendWindow:
    days: frozenset[int]  # 0 = Monday
    opens: time
    closes: time
    tz: ZoneInfo

    def __post_init__(self) -> None:
        check_window(self.opens, self.closes)
        check_days(self.days)


def window_from(settings: Settings) -> SendWindow:
    return SendWindow(
        days=frozenset(settings.SEND_WINDOW_DAYS),
        opens=parse_clock(settings.SEND_WINDOW_START),
        closes=parse_clock(settings.SEND_WINDOW_END),
        tz=ZoneInfo(settings.TIMEZONE),
    )


def hold_until(settings: Settings, moment: datetime) -> datetime | None:
    """When non-urgent email ready at `moment` may go, if it must wait; None: it goes now."""
    if not settings.SEND_WINDOW_ENABLED:
        return None
    window = window_from(settings)
    return None if is_open(window, moment) else next_opening(window, moment)


def _opening(window: SendWindow, day: date) -> datetime:
    return at_local(day, window.opens.hour, window.tz, window.opens.minute)


def _closing(window: SendWindow, day: date) -> datetime:
    return at_local(day, window.closes.hour, window.tz, window.closes.minute)


def is_open(window: SendWindow, moment: datetime) -> bool:
    day = local_date(require_aware(moment), window.tz)
    return day.weekday() in window.days and _opening(window, day) <= moment < _closing(window, day)


def next_opening(window: SendWindow, moment: datetime) -> datetime:
    """`moment` itself when the window is open then, else when it next opens (UTC)."""
    if is_open(window, moment):
        return moment
    today = local_date(moment, window.tz)
    for ahead in range(8):
        day = today + timedelta(days=ahead)
        if day.weekday() in window.days and _opening(window, day) > moment:
            return _opening(window, day)
    raise WindowError("the send window never opens")  # unreachable: check_window saw a day


def held_until_text(moment: datetime, tz: ZoneInfo) -> str:
    """How staff read a hold: "07:00 Monday 30 November"."""
    local = require_aware(moment).astimezone(tz)
    return f"{local:%H:%M} {DAY_NAMES[local.weekday()]} {local.day} {local:%B}"

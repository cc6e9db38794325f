"""The send window's settings checked: a time of day, the days, and opening before closing.

Apart from send_windows.py so that Settings can check them without importing the scheduler.
"""

from __future__ import annotations

from datetime import time


class WindowError(ValueError):
    pass


def parse_clock(text: str) -> time:
    """Read "07:00" (HH:MM, 24-hour)."""
    try:
        hours, minutes = text.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise WindowError(f"{text!r} is not a time of day like 07:00") from None


def check_window(opens: time, closes: time) -> None:
    if closes <= opens:
        raise WindowError(f"the send window ends ({closes:%H:%M}) before it starts ({opens:%H:%M})")


def check_days(days: frozenset[int] | set[int]) -> None:
    if not days:
        raise WindowError("the send window has no days; name at least one (0 = Monday)")
    if any(day not in range(7) for day in days):
        raise WindowError("send window days are 0 (Monday) to 6 (Sunday)")

"""The send window's rules: open or not, when it next opens, across weekends and clock changes."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from newsletter.send_window_settings import WindowError, parse_clock
from newsletter.send_windows import SendWindow, held_until_text, is_open, next_opening

LONDON = ZoneInfo("Europe/London")
WEEKDAYS = SendWindow(frozenset(range(5)), time(7), time(19), LONDON)


def london(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=LONDON).astimezone(UTC)  # type: ignore[misc]


def test_saturday_morning_is_held_until_monday_at_seven() -> None:
    saturday = london(2026, 12, 5, 10, 0)
    assert not is_open(WEEKDAYS, saturday)
    assert next_opening(WEEKDAYS, saturday) == london(2026, 12, 7, 7, 0)
    assert held_until_text(next_opening(WEEKDAYS, saturday), LONDON) == "07:00 Monday 7 December"


def test_inside_the_window_is_now_and_the_edges_are_half_open() -> None:
    tuesday_noon = london(2026, 12, 8, 12, 0)
    assert next_opening(WEEKDAYS, tuesday_noon) == tuesday_noon
    assert is_open(WEEKDAYS, london(2026, 12, 8, 7, 0))
    assert not is_open(WEEKDAYS, london(2026, 12, 8, 19, 0))
    assert not is_open(WEEKDAYS, london(2026, 12, 8, 6, 59))


def test_an_evening_alert_waits_for_the_next_morning_and_friday_evening_for_monday() -> None:
    assert next_opening(WEEKDAYS, london(2026, 12, 8, 21, 30)) == london(2026, 12, 9, 7, 0)
    assert next_opening(WEEKDAYS, london(2026, 12, 8, 3, 0)) == london(2026, 12, 8, 7, 0)
    assert next_opening(WEEKDAYS, london(2026, 12, 11, 19, 0)) == london(2026, 12, 14, 7, 0)


def test_opening_stays_at_seven_local_across_the_change_of_clocks() -> None:
    # The clocks go forward on Sunday 29 March 2026 and back on Sunday 25 October 2026.
    spring = next_opening(WEEKDAYS, london(2026, 3, 28, 10, 0))
    autumn = next_opening(WEEKDAYS, london(2026, 10, 24, 10, 0))
    assert spring == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)  # 07:00 BST
    assert autumn == datetime(2026, 10, 26, 7, 0, tzinfo=UTC)  # 07:00 GMT
    assert spring.astimezone(LONDON).hour == autumn.astimezone(LONDON).hour == 7


def test_a_window_that_ends_before_it_starts_is_refused_in_one_line() -> None:
    with pytest.raises(WindowError, match=r"ends \(06:00\) before it starts \(07:00\)"):
        SendWindow(frozenset(range(5)), time(7), time(6), LONDON)
    with pytest.raises(WindowError, match="no days"):
        SendWindow(frozenset(), time(7), time(19), LONDON)
    with pytest.raises(WindowError, match="not a time of day"):
        parse_clock("7am")


def test_a_weekend_window_opens_on_saturday() -> None:
    every_day = SendWindow(frozenset(range(7)), time(9), time(17), LONDON)
    assert next_opening(every_day, london(2026, 12, 5, 8, 0)) == london(2026, 12, 5, 9, 0)


def test_naive_moments_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        is_open(WEEKDAYS, datetime(2026, 12, 5, 10, 0))

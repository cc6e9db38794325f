"""Members who want no email at weekends: which digest run leaves them out, and which brings
their weekly digest, on each day of the week for each weekly day."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from newsletter.audience import merge_groups
from newsletter.models import Frequency
from newsletter.school_calendar import WeekendRule, weekend_rule

MONDAY = date(2026, 12, 7)
DAILY, WEEKLY = Frequency.DAILY, Frequency.WEEKLY
WAITS = WeekendRule(waits=True, brings_weekly=False)
GOES = WeekendRule(waits=False, brings_weekly=False)
BRINGS_WEEKLY = WeekendRule(waits=False, brings_weekly=True)


def on(weekday: int) -> date:
    return MONDAY + timedelta(days=weekday)


@pytest.mark.parametrize("weekly_day", range(7))
def test_nothing_goes_on_saturday_or_sunday(weekly_day: int) -> None:
    for frequency in (DAILY, WEEKLY):
        assert weekend_rule(frequency, on(5), weekly_day) == WAITS
        assert weekend_rule(frequency, on(6), weekly_day) == WAITS


@pytest.mark.parametrize("weekly_day", [5, 6, 0])
def test_a_weekly_digest_due_on_the_weekend_or_monday_goes_in_mondays_daily(
    weekly_day: int,
) -> None:
    assert weekend_rule(DAILY, MONDAY, weekly_day) == BRINGS_WEEKLY
    assert weekend_rule(WEEKLY, MONDAY, weekly_day) == WAITS


@pytest.mark.parametrize("weekly_day", [1, 2, 3, 4])
def test_a_weekly_digest_due_on_a_weekday_after_monday_goes_on_its_day(weekly_day: int) -> None:
    assert weekend_rule(DAILY, MONDAY, weekly_day) == GOES
    assert weekend_rule(WEEKLY, MONDAY, weekly_day) == GOES
    assert weekend_rule(WEEKLY, on(weekly_day), weekly_day) == GOES
    assert weekend_rule(DAILY, on(weekly_day), weekly_day) == GOES


def test_merged_digests_hold_each_article_once_in_topic_order() -> None:
    daily = [(2, [10, 11])]
    weekly = [(3, [11, 12]), (1, [13])]
    assert merge_groups(daily, weekly, [1, 2, 3]) == [(1, [13]), (2, [10, 11]), (3, [12])]
    assert merge_groups([], weekly, [1, 2, 3]) == [(1, [13]), (3, [11, 12])]
    assert merge_groups(daily, [(3, [11])], [1, 2, 3]) == [(2, [10, 11])]

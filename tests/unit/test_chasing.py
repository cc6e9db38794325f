"""When an urgent notice is chased (newsletter.chasing): the pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from newsletter.chasing import (
    ChaseRule,
    ChaseRuleError,
    chase_key,
    chase_rule,
    chase_subject,
    next_round,
    parse_chase_rule,
)

SENT = datetime(2026, 12, 7, 9, tzinfo=UTC)
RULE = ChaseRule(days=3, times=2)


def test_the_first_chase_is_due_three_days_after_the_notice() -> None:
    assert next_round(RULE, 0, SENT, SENT + timedelta(days=3, seconds=-1)) is None
    assert next_round(RULE, 0, SENT, SENT + timedelta(days=3)) == 1


def test_the_next_chase_counts_from_the_last_email_so_a_late_beat_chases_once() -> None:
    # Beat was down for a week: the first chase goes when it is back, the second three days
    # after that one, not at once.
    back = SENT + timedelta(days=7)
    assert next_round(RULE, 0, SENT, back) == 1
    assert next_round(RULE, 1, back, back + timedelta(minutes=1)) is None
    assert next_round(RULE, 1, back, back + timedelta(days=3)) == 2


def test_no_chase_after_the_limit_or_before_the_notice_went_out() -> None:
    assert next_round(RULE, 2, SENT, SENT + timedelta(days=30)) is None
    assert next_round(ChaseRule(3, 0), 0, SENT, SENT + timedelta(days=30)) is None
    assert next_round(RULE, 0, None, SENT + timedelta(days=30)) is None


@pytest.mark.parametrize(
    ("days", "times", "field", "message"),
    [
        (0, 2, "chase_days", "the days before a chase must be at least 1 (not 0)"),
        (-1, 2, "chase_days", "the days before a chase must be at least 1 (not -1)"),
        (61, 2, "chase_days", "the days before a chase can be 60 at most (not 61)"),
        (3, -1, "chase_times", "the number of chases cannot be negative (-1)"),
        (3, 11, "chase_times", "a notice can be chased 10 times at most (not 11)"),
    ],
)
def test_a_rule_that_cannot_be_used_is_refused_naming_the_field(
    days: int, times: int, field: str, message: str
) -> None:
    with pytest.raises(ChaseRuleError) as refused:
        chase_rule(days, times)
    assert (refused.value.field, str(refused.value)) == (field, message)


def test_typed_rules_are_whole_numbers() -> None:
    assert parse_chase_rule(" 3 ", "2") == RULE
    with pytest.raises(ChaseRuleError, match="the days must be a whole number"):
        parse_chase_rule("3.5", "2")
    with pytest.raises(ChaseRuleError, match="the times must be a whole number"):
        parse_chase_rule("3", "")


def test_a_chase_is_keyed_by_notice_and_round_and_says_it_is_a_reminder() -> None:
    assert chase_key(7, 2) == "ack-chase:7:2"
    assert chase_subject("Return due") == "Reminder: Return due"
    assert chase_subject("Reminder: Return due") == "Reminder: Return due"

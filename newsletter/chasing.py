"""When an urgent notice's members who have not acknowledged it are chased (pure).

A notice is chased `times` times at most, each chase `days` days after the email before it
(the notice, or the last chase) went out: beat down for a week makes one chase when it is back,
not two in a row. Who is chased (those sent the notice who have not acknowledged it and may
still receive it) is a query: delivery.chases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_CHASE_DAYS = 60
MAX_CHASE_TIMES = 10
REMINDER = "Reminder: "


class ChaseRuleError(ValueError):
    """A chase setting that cannot be used; `field` names it (chase_days or chase_times)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ChaseRule:
    days: int  # between one email of the notice and its next chase
    times: int  # chases at most (0: never chased)


def chase_rule(days: int, times: int) -> ChaseRule:
    """The rule, or ChaseRuleError naming what is wrong with it."""
    if days < 1:
        raise ChaseRuleError(
            "chase_days", f"the days before a chase must be at least 1 (not {days})"
        )
    if days > MAX_CHASE_DAYS:
        raise ChaseRuleError(
            "chase_days", f"the days before a chase can be {MAX_CHASE_DAYS} at most (not {days})"
        )
    if times < 0:
        raise ChaseRuleError("chase_times", f"the number of chases cannot be negative ({times})")
    if times > MAX_CHASE_TIMES:
        raise ChaseRuleError(
            "chase_times", f"a notice can be chased {MAX_CHASE_TIMES} times at most (not {times})"
        )
    return ChaseRule(days, times)


def parse_chase_rule(days: str, times: str) -> ChaseRule:
    """The rule from text a person typed (a form, a command line)."""
    return chase_rule(_whole(days, "chase_days", "days"), _whole(times, "chase_times", "times"))


def _whole(text: str, field: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ChaseRuleError(field, f"the {what} must be a whole number (not {text!r})") from None


def next_round(
    rule: ChaseRule, last_round: int, last_sent_at: datetime | None, now: datetime
) -> int | None:
    """The chase due at `now`, after round `last_round` (0: the notice itself) went out at
    `last_sent_at`; None while none is due, once the notice has been chased `rule.times`
    times, or when the last email has not gone out yet."""
    if last_sent_at is None or last_round >= rule.times:
        return None
    if now < last_sent_at + timedelta(days=rule.days):
        return None
    return last_round + 1


def chase_key(notice_id: int, round_: int) -> str:
    """The chase's send key: a second beat, or a re-run, finds the send made already."""
    return f"ack-chase:{notice_id}:{round_}"


def chase_subject(subject: str) -> str:
    return subject if subject.startswith(REMINDER) else REMINDER + subject

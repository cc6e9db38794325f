"""Priority: staff's word first; otherwise breaking when something closes within the window."""

from __future__ import annotations

from datetime import date

from newsletter.articles.deadlines import FoundDate
from newsletter.articles.priority import decide
from newsletter.models import DatePrecision, DeadlineKind, Priority

PUBLISHED = date(2021, 3, 1)


def closes(when: date, kind: DeadlineKind = DeadlineKind.CLOSES) -> FoundDate:
    return FoundDate(when, DatePrecision.DAY, kind, "text")


def test_a_close_within_the_window_suggests_breaking_with_the_reason() -> None:
    decision = decide([closes(date(2021, 3, 29))], PUBLISHED, 42)
    assert decision.priority is Priority.BREAKING
    assert decision.suggested is Priority.BREAKING
    assert (
        decision.reason
        == "suggested: closes 2021-03-29, 28 days after first publication (within 42)"
    )


def test_a_close_beyond_the_window_or_another_kind_stays_normal() -> None:
    assert decide([closes(date(2021, 4, 13))], PUBLISHED, 42).priority is Priority.NORMAL
    assert decide([closes(date(2021, 4, 12))], PUBLISHED, 42).priority is Priority.BREAKING
    opening = closes(date(2021, 3, 5), DeadlineKind.OPENS)
    assert decide([opening], PUBLISHED, 42).priority is Priority.NORMAL
    assert decide([], PUBLISHED, 42).reason == ""


def test_the_window_is_configurable() -> None:
    assert decide([closes(date(2021, 3, 29))], PUBLISHED, 7).priority is Priority.NORMAL


def test_staff_override_the_suggestion_and_the_reason_keeps_both() -> None:
    overridden = decide([closes(date(2021, 3, 10))], PUBLISHED, 42, Priority.NORMAL)
    assert overridden.priority is Priority.NORMAL
    assert overridden.suggested is Priority.BREAKING
    assert overridden.reason.startswith("staff chose normal (suggested breaking: closes 2021-03-10")
    forced = decide([], PUBLISHED, 42, Priority.BREAKING)
    assert (forced.priority, forced.suggested, forced.reason) == (
        Priority.BREAKING,
        Priority.NORMAL,
        "staff chose breaking",
    )

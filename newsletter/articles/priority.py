"""An article's priority: what staff said, else what its closing deadlines suggest."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from newsletter.articles.deadlines import FoundDate
from newsletter.models import DeadlineKind, Priority


@dataclass(frozen=True)
class PriorityDecision:
    priority: Priority
    suggested: Priority
    reason: str


def suggest(
    deadlines: Iterable[FoundDate], reference: date, window_days: int
) -> tuple[Priority, str]:
    """Breaking when something closes within the window after first publication."""
    closing = sorted(
        d for d in (item.date for item in deadlines if item.kind is DeadlineKind.CLOSES)
    )
    for when in closing:
        days = (when - reference).days
        if 0 <= days <= window_days:
            return Priority.BREAKING, (
                f"closes {when.isoformat()}, {days} days after first publication "
                f"(within {window_days})"
            )
    return Priority.NORMAL, ""


def decide(
    deadlines: Iterable[FoundDate],
    reference: date,
    window_days: int,
    staff_choice: Priority | None = None,
) -> PriorityDecision:
    """Staff's choice wins; otherwise the suggestion stands. The reason says which it was."""
    suggested, why = suggest(deadlines, reference, window_days)
    if staff_choice is None:
        return PriorityDecision(suggested, suggested, f"suggested: {why}" if why else "")
    reason = f"staff chose {staff_choice.value}"
    if why and suggested is not staff_choice:
        reason += f" (suggested {suggested.value}: {why})"
    return PriorityDecision(staff_choice, suggested, reason)

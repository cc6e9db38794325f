"""Answers kept a moment (newsletter/recent.py, ADR 0025) in tests: "big" from a few rows, and
a clock the test moves by hand."""

from __future__ import annotations

import pytest

from newsletter import recent


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def advance(self, seconds: float) -> None:
        self.now += seconds


def keep_from(monkeypatch: pytest.MonkeyPatch, rows: int) -> Clock:
    """Answers counting `rows` or more are kept, on a clock that moves only when told."""
    clock = Clock()
    monkeypatch.setattr(recent, "BIG", rows)
    monkeypatch.setattr(recent, "monotonic", lambda: clock.now)
    return clock

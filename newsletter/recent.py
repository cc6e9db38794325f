"""Answers to reads that grow with the data, kept a few seconds in this process (ADR 0025).

The staff pages count a send's deliveries and the dashboard counts members, subscriptions and
a month of sent emails. At 100,000 members each of those reads every row it counts (a tenth of
a second to a second), and thirty staff watching a big send asked for them several times a
second, taking the CPU the send needed. A big answer is now kept for a few seconds and given to
whoever asks in that time; a small one (under BIG rows counted) is read afresh every time, so a
small association, and every test, sees each change at once.

Kept per database URL (a process may serve several, as the tests do) and per key.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from time import monotonic
from typing import Any

from sqlalchemy.orm import Session

BIG = 10_000  # rows counted: below this, reading afresh costs a few milliseconds
LONGEST_SECONDS = 300.0  # nothing is kept longer than this, whatever a caller asks

_kept: dict[tuple[str, Hashable], tuple[float, Any]] = {}
_lock = threading.Lock()


def _where(session: Session, key: Hashable) -> tuple[str, Hashable]:
    return (str(session.get_bind().engine.url), key)


def recent(session: Session, key: Hashable, seconds: float) -> Any | None:
    """The answer kept for `key` on this session's database less than `seconds` ago, if any."""
    with _lock:
        found = _kept.get(_where(session, key))
    if found is None or monotonic() - found[0] >= seconds:
        return None
    return found[1]


def keep(session: Session, key: Hashable, answer: Any, rows: int) -> None:
    """Keep `answer` for `key` if it counted at least BIG rows; forget any older one if not."""
    where = _where(session, key)
    now = monotonic()
    with _lock:
        if rows < BIG:
            _kept.pop(where, None)
            return
        _kept[where] = (now, answer)
        for old in [k for k, (at, _) in _kept.items() if now - at > LONGEST_SECONDS]:
            del _kept[old]


def forget() -> None:
    """Drop every kept answer (a process that wants to time the reads themselves)."""
    with _lock:
        _kept.clear()

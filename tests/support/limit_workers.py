"""Process bodies for the rate-limit tests: each runs in a spawned process, as a worker would."""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.synchronize import Event
from typing import Any

from newsletter.config import Settings
from newsletter.delivery.ratelimit import connection_slot, make_rate_limiter


def take_tokens_until(
    settings: dict[str, Any],
    key: str,
    start_at: float,
    stop_at: float,
    out: multiprocessing.Queue[list[float]],
) -> None:
    """From start_at to stop_at, take one token at a time; report when each was granted."""
    limiter = make_rate_limiter(Settings(**settings), key=key)
    time.sleep(max(0.0, start_at - time.time()))
    granted = []
    while time.time() < stop_at:
        limiter.acquire()
        granted.append(time.time())
    out.put(granted)


def hold_a_slot_forever(settings: dict[str, Any], key: str, ttl: float, holding: Event) -> None:
    with connection_slot(Settings(**settings), key=key, ttl=ttl):
        holding.set()
        time.sleep(600)


def count_in_window(granted: list[list[float]], start: float, end: float) -> int:
    return sum(1 for times in granted for t in times if start <= t < end)

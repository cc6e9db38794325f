"""A backend that keeps every message in a list in this process, for tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from newsletter.config import Settings
from newsletter.delivery.backends.base import SENT_LOCALLY, SendResult

if TYPE_CHECKING:
    from newsletter.rendering import OutgoingMessage

outbox: list[OutgoingMessage] = []
_lock = threading.Lock()


def clear() -> None:
    """Empty the outbox in place, so `from ... import outbox` keeps working."""
    with _lock:
        outbox.clear()


class MemoryConnection:
    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        with _lock:
            outbox.extend(messages)
        return [SENT_LOCALLY for _ in messages]

    def close(self) -> None:
        pass


class MemoryBackend:
    name = "memory"

    def __init__(self, settings: Settings) -> None:
        pass

    def open(self) -> MemoryConnection:
        return MemoryConnection()

"""Send a few messages at once, outside the ledger: a password reset, a staff alert, a test
send. A send's batches go through batches.py instead, which records every result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from newsletter.config import Settings
from newsletter.delivery.backends.base import SendResult

if TYPE_CHECKING:
    from newsletter.rendering import OutgoingMessage


def send_one_off(messages: list[OutgoingMessage], settings: Settings) -> list[SendResult]:
    """Send over one connection, in slices the shared rate limit allows."""
    from newsletter.delivery.backends import get_backend
    from newsletter.delivery.ratelimit import connection_slot, make_rate_limiter

    limiter = make_rate_limiter(settings)
    rate = settings.RATE_LIMIT_PER_SECOND
    step = max(1, int(rate)) if rate > 0 else len(messages)
    results: list[SendResult] = []
    with connection_slot(settings):
        connection = get_backend(settings=settings).open()
        try:
            for start in range(0, len(messages), step):
                chunk = messages[start : start + step]
                limiter.acquire(len(chunk))
                results.extend(connection.send_batch(chunk))
        finally:
            connection.close()
    return results

"""The recovery sweep beat runs every minute, run here every second in a background thread.

It is the product's own `jobs.sweep` (re-queue rows stuck in `sending` past
SENDING_TIMEOUT_SECONDS, due `deferred` rows, and `pending` rows whose broker message was lost;
mark finished sends). While Redis or PostgreSQL is down a sweep fails, as beat's would, and the
next one tries again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from newsletter.delivery import jobs

log = logging.getLogger(__name__)


@contextmanager
def sweeping(every: float = 1.0) -> Iterator[list[str]]:
    """Sweep every `every` seconds for the length of the block; yields the failures seen."""
    failures: list[str] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            try:
                jobs.sweep()
            except Exception as exc:  # a server is down: try again next time
                failures.append(repr(exc))
                log.info("sweep failed: %r", exc)

    thread = threading.Thread(target=run, name="sweeper", daemon=True)
    thread.start()
    try:
        yield failures
    finally:
        stop.set()
        thread.join(timeout=60)

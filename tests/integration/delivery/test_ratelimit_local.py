"""Without Redis, the limits still hold across the worker processes of one machine."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from newsletter.config import Settings
from newsletter.delivery.ratelimit import connection_slot
from tests.support.limit_workers import count_in_window, hold_a_slot_forever, take_tokens_until

RATE = 50
spawn = multiprocessing.get_context("spawn")


def test_two_processes_share_the_local_bucket(tmp_path: Path) -> None:
    start_at = time.time() + 4  # time for both interpreters to start
    out: multiprocessing.Queue[list[float]] = spawn.Queue()
    settings = {"VAR_DIR": str(tmp_path), "RATE_LIMIT_PER_SECOND": RATE}
    args = (settings, "messages", start_at, start_at + 2.2, out)
    workers = [spawn.Process(target=take_tokens_until, args=args) for _ in range(2)]
    for worker in workers:
        worker.start()
    granted = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)

    # As with Redis: after the first second's burst, 50 a second between them, not 100.
    assert 25 <= count_in_window(granted, start_at + 1, start_at + 2) <= 75
    assert all(len(times) >= 5 for times in granted), "both processes took tokens"


def test_a_killed_process_frees_its_local_slot(tmp_path: Path) -> None:
    settings: dict[str, Any] = {"VAR_DIR": str(tmp_path), "MAX_SMTP_CONNECTIONS": 1}
    holding, got_in = spawn.Event(), threading.Event()
    holder = spawn.Process(target=hold_a_slot_forever, args=(settings, "smtp", 60.0, holding))
    holder.start()
    assert holding.wait(120)

    def take_the_slot() -> None:
        with connection_slot(Settings(**settings), key="smtp"):
            got_in.set()

    waiting = threading.Thread(target=take_the_slot)
    waiting.start()
    assert not got_in.wait(1.0)  # the live holder has the only slot
    assert holder.pid is not None
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(30)

    assert got_in.wait(30)  # long before the 60 s a Redis slot would take to lapse
    waiting.join(30)

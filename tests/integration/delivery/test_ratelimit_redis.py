"""Rate limit and connection cap shared through a real Redis by separate processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import uuid
from contextlib import ExitStack

import pytest

from newsletter.config import Settings
from newsletter.delivery.ratelimit import connection_slot, make_rate_limiter
from tests.support.limit_workers import count_in_window, hold_a_slot_forever, take_tokens_until
from tests.support.servers import RedisServer

pytestmark = pytest.mark.redis

RATE = 50
# Processes are started with "spawn": a clean interpreter, as a separate worker would be.
spawn = multiprocessing.get_context("spawn")


def test_two_processes_share_one_bucket(redis: RedisServer) -> None:
    key = f"test:bucket:{uuid.uuid4().hex}"
    start_at = time.time() + 4  # time for both interpreters to start
    out: multiprocessing.Queue[list[float]] = spawn.Queue()
    settings = {"REDIS_URL": redis.url, "RATE_LIMIT_PER_SECOND": RATE}
    args = (settings, key, start_at, start_at + 2.2, out)
    workers = [spawn.Process(target=take_tokens_until, args=args) for _ in range(2)]
    for worker in workers:
        worker.start()
    granted = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)

    # The first second also spends the full bucket; in the second one only the refill counts:
    # 50 shared, where a limiter per process would let each take 50 (100 together).
    assert 25 <= count_in_window(granted, start_at + 1, start_at + 2) <= 75
    assert all(len(times) >= 5 for times in granted), "both processes took tokens"


def test_beyond_the_burst_one_process_waits_for_the_refill(redis: RedisServer) -> None:
    limiter = make_rate_limiter(
        Settings(REDIS_URL=redis.url, RATE_LIMIT_PER_SECOND=RATE), key=f"test:{uuid.uuid4().hex}"
    )
    started = time.monotonic()

    limiter.acquire(RATE)  # the full bucket: no wait
    limiter.acquire(RATE // 2)  # 25 more at 50 a second: about half a second

    assert time.monotonic() - started >= 0.45


def settings_with_cap(redis: RedisServer, cap: int) -> Settings:
    return Settings(REDIS_URL=redis.url, MAX_SMTP_CONNECTIONS=cap)


def test_a_third_holder_waits_for_one_of_two_slots(redis: RedisServer) -> None:
    settings, key = settings_with_cap(redis, 2), f"test:slots:{uuid.uuid4().hex}"
    third_in = threading.Event()

    def third() -> None:
        with connection_slot(settings, key=key):
            third_in.set()

    with ExitStack() as holders:
        holders.enter_context(connection_slot(settings, key=key))
        with connection_slot(settings, key=key):
            waiting = threading.Thread(target=third)
            waiting.start()
            assert not third_in.wait(1.0)
        assert third_in.wait(30)  # one slot was released
    waiting.join(30)


def test_a_live_holder_keeps_its_slot_past_the_expiry(redis: RedisServer) -> None:
    settings, key = settings_with_cap(redis, 1), f"test:slots:{uuid.uuid4().hex}"
    events: list[str] = []
    first_in = threading.Event()

    def second() -> None:
        first_in.wait(30)
        with connection_slot(settings, key=key, ttl=1.5):
            events.append("second in")

    waiting = threading.Thread(target=second)
    waiting.start()
    with connection_slot(settings, key=key, ttl=1.5):
        first_in.set()
        time.sleep(4)  # well past the 1.5 s expiry: only renewal keeps the slot
        events.append("first out")
    waiting.join(30)

    assert events == ["first out", "second in"]


def test_a_killed_holder_frees_its_slot_after_the_expiry(redis: RedisServer) -> None:
    settings, key, ttl = settings_with_cap(redis, 1), f"test:slots:{uuid.uuid4().hex}", 3.0
    holding = spawn.Event()
    holder_settings = {"REDIS_URL": redis.url, "MAX_SMTP_CONNECTIONS": 1}
    holder = spawn.Process(target=hold_a_slot_forever, args=(holder_settings, key, ttl, holding))
    holder.start()
    assert holding.wait(120)
    held_since = time.monotonic()
    assert holder.pid is not None
    os.kill(holder.pid, signal.SIGKILL)  # no release, no renewal
    holder.join(30)

    with connection_slot(settings, key=key, ttl=ttl):
        waited = time.monotonic() - held_since

    # Not before the slot expired (less the moments it took to see it held), but then soon.
    assert 1.0 <= waited <= 60

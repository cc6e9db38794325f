"""The one-machine rate limit and connection cap, and which limiter the settings choose."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis

from newsletter.config import Settings
from newsletter.delivery.ratelimit import (
    LocalRateLimiter,
    RedisRateLimiter,
    Unlimited,
    connection_slot,
    make_rate_limiter,
    redis_url,
    refill,
    take,
)
from tests.support.servers import free_port


class FakeClock:
    """Time that passes only when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def test_refill_adds_tokens_at_the_rate_up_to_the_capacity() -> None:
    assert refill(0, 0.5, rate=10, capacity=10) == 5
    assert refill(8, 5.0, rate=10, capacity=10) == 10
    assert refill(3, -1.0, rate=10, capacity=10) == 3  # a clock stepping back adds nothing


def test_take_takes_all_or_says_how_long_to_wait() -> None:
    assert take(5, 3, rate=10) == (2, 0)
    assert take(2, 3, rate=10) == (2, pytest.approx(0.1))


def fake_timed_limiter(folder: Path, rate: float) -> tuple[LocalRateLimiter, FakeClock]:
    clock = FakeClock()
    return LocalRateLimiter(folder / "bucket", rate, clock=clock, sleep=clock.sleep), clock


def test_a_full_bucket_gives_a_second_of_tokens_without_waiting(tmp_path: Path) -> None:
    limiter, clock = fake_timed_limiter(tmp_path, 50)

    limiter.acquire(50)

    assert clock.slept == 0


def test_beyond_the_burst_the_rate_holds(tmp_path: Path) -> None:
    limiter, clock = fake_timed_limiter(tmp_path, 50)

    for _ in range(150):
        limiter.acquire()

    assert clock.slept == pytest.approx(2.0)  # 50 at once, then 100 more at 50 a second


def test_more_than_a_bucketful_at_once_is_taken_in_parts(tmp_path: Path) -> None:
    limiter, clock = fake_timed_limiter(tmp_path, 50)

    limiter.acquire(120)

    assert clock.slept == pytest.approx(1.4)


def test_limiters_on_one_file_share_the_bucket(tmp_path: Path) -> None:
    clock = FakeClock()
    first, second = (
        LocalRateLimiter(tmp_path / "bucket", 50, clock=clock, sleep=clock.sleep) for _ in "ab"
    )

    first.acquire(50)
    second.acquire(25)

    assert clock.slept == pytest.approx(0.5)


def test_a_damaged_bucket_file_starts_full(tmp_path: Path) -> None:
    (tmp_path / "bucket").write_text("0.5 garbage")
    limiter, clock = fake_timed_limiter(tmp_path, 10)

    limiter.acquire(10)

    assert clock.slept == 0


def test_threads_share_one_local_bucket(tmp_path: Path) -> None:
    limiter = LocalRateLimiter(tmp_path / "bucket", 50)
    started = time.monotonic()

    def take_25() -> None:
        for _ in range(25):
            limiter.acquire()

    threads = [threading.Thread(target=take_25) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # 100 tokens: 50 in the bucket, 50 more take a second however the threads interleave.
    assert time.monotonic() - started >= 0.9
    assert not any(thread.is_alive() for thread in threads)


def test_the_settings_choose_the_limiter() -> None:
    assert isinstance(make_rate_limiter(Settings(RATE_LIMIT_PER_SECOND=0)), Unlimited)
    assert isinstance(make_rate_limiter(Settings(RATE_LIMIT_PER_SECOND=5)), LocalRateLimiter)
    shared = make_rate_limiter(Settings(RATE_LIMIT_PER_SECOND=5, REDIS_URL="redis://127.0.0.1:1/0"))
    assert isinstance(shared, RedisRateLimiter)


def test_without_redis_the_shared_limiter_limits_locally(tmp_path: Path) -> None:
    unreachable = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    local, clock = fake_timed_limiter(tmp_path, 50)
    limiter = RedisRateLimiter(unreachable, 50, "messages", fallback=local)

    limiter.acquire(60)  # does not raise mid-batch

    assert clock.slept == pytest.approx(0.2)


def test_redis_comes_from_redis_url_or_a_redis_broker() -> None:
    assert redis_url(Settings()) is None
    assert redis_url(Settings(BROKER_URL="redis://127.0.0.1:6379/1")) == "redis://127.0.0.1:6379/1"
    assert (
        redis_url(Settings(BROKER_URL="redis://127.0.0.1:6379/1", REDIS_URL="redis://127.0.0.1/2"))
        == "redis://127.0.0.1/2"
    )


def test_local_connection_cap_makes_the_next_holder_wait() -> None:
    settings = Settings(MAX_SMTP_CONNECTIONS=2)
    key = "test-local-cap"
    first_in, third_in, release_first = threading.Event(), threading.Event(), threading.Event()

    def hold_until_released() -> None:
        with connection_slot(settings, key=key):
            first_in.set()
            release_first.wait(30)

    def third() -> None:
        with connection_slot(settings, key=key):
            third_in.set()

    first = threading.Thread(target=hold_until_released)
    first.start()
    assert first_in.wait(30)
    with connection_slot(settings, key=key):
        waiting = threading.Thread(target=third)
        waiting.start()
        assert not third_in.wait(0.5)
        release_first.set()
        assert third_in.wait(30)
    first.join(30)
    waiting.join(30)

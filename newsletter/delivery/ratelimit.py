"""Limits that hold across every worker: messages per second and concurrent SMTP connections.

With Redis (settings.REDIS_URL, or a redis:// BROKER_URL) both live in Redis, so ten workers
together send no faster than one is allowed to. Without it (the embedded default, one machine)
they live in locked files under VAR_DIR, shared by the processes of that machine. Celery's own
rate_limit is per worker process, which is why this exists.
"""

from __future__ import annotations

import fcntl
import logging
import random
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import IO

import redis

from newsletter.config import Settings

log = logging.getLogger(__name__)

BUCKET_KEY = "newsletter:ratelimit:messages"
SLOTS_KEY = "newsletter:smtp-connections"
# A slot outlives its holder by at most this long; holders renew it while they live.
SLOT_TTL_SECONDS = 60.0
_SLOT_POLL_SECONDS = 0.1
_TOLERANCE = 1e-9

# Token bucket, atomic in Redis. Redis' own clock is used so that workers on machines whose
# clocks disagree still share one bucket. Returns how long to wait (0 = taken), as a string
# because Redis truncates Lua numbers to integers.
_TAKE_TOKENS = """
local rate, capacity, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1]) or capacity
local stamp = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens >= n - 1e-9 then tokens = math.max(0, tokens - n) else wait = (n - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return tostring(wait)
"""

# Connection slots: a sorted set of holder -> expiry time. Expired holders (killed workers)
# are dropped before counting, so a slot cannot leak for longer than the expiry.
_TAKE_SLOT = """
local cap, ttl, holder = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= cap then return 0 end
redis.call('ZADD', KEYS[1], now + ttl, holder)
redis.call('EXPIRE', KEYS[1], math.ceil(ttl) + 60)
return 1
"""

_RENEW_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
return redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[2])
"""


def redis_url(settings: Settings) -> str | None:
    """The Redis that holds shared limits, or None for the embedded (single-machine) setup."""
    if settings.REDIS_URL:
        return settings.REDIS_URL
    if settings.BROKER_URL.startswith(("redis://", "rediss://")):
        return settings.BROKER_URL
    return None


@cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


# -- messages per second ---------------------------------------------------------------------


def refill(tokens: float, elapsed: float, rate: float, capacity: float) -> float:
    """The bucket's tokens after `elapsed` seconds at `rate` a second, never above capacity."""
    return min(capacity, tokens + max(0.0, elapsed) * rate)


def take(tokens: float, n: int, rate: float) -> tuple[float, float]:
    """(tokens left, seconds to wait): n are taken only if all n are there."""
    # The tolerance stops float rounding (0.9999999 of a token) from asking for an endless
    # series of waits too short to move the clock.
    if tokens >= n - _TOLERANCE:
        return max(0.0, tokens - n), 0.0
    return tokens, (n - tokens) / rate


def bucket_size(rate: float) -> int:
    # One second's worth: a short burst after a pause, never more than a second ahead.
    return max(1, int(rate))


def _parts(n: int, size: int) -> Iterator[int]:
    # More than a bucket holds can never be available at once: take it a bucketful at a time.
    while n > 0:
        yield min(n, size)
        n -= size


class RateLimiter(ABC):
    @abstractmethod
    def acquire(self, n: int = 1) -> None:
        """Block until n tokens (messages) may go."""


class Unlimited(RateLimiter):
    def acquire(self, n: int = 1) -> None:
        pass


class LocalRateLimiter(RateLimiter):
    """A token bucket kept in a locked file, shared by the processes and threads of a machine.

    The embedded setup runs a worker with several processes and no Redis; a bucket in memory
    would give each of them the whole rate.
    """

    def __init__(
        self,
        path: Path,
        rate: float,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = path
        self.rate = rate
        self.capacity = bucket_size(rate)
        self._clock = clock
        self._sleep = sleep
        path.parent.mkdir(parents=True, exist_ok=True)

    def acquire(self, n: int = 1) -> None:
        for part in _parts(n, self.capacity):
            while (wait := self._try_take(part)) > 0:
                self._sleep(wait)

    def _try_take(self, n: int) -> float:
        # A fresh open per call: flock then also excludes other threads of this process.
        with open(self.path, "a+") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            file.seek(0)
            now = self._clock()
            tokens, stamp = _parse_bucket(file.read(), self.capacity, now)
            tokens = refill(tokens, now - stamp, self.rate, self.capacity)
            tokens, wait = take(tokens, n, self.rate)
            file.seek(0)
            file.truncate()
            file.write(f"{tokens!r} {now!r}")
            return wait


def _parse_bucket(text: str, capacity: int, now: float) -> tuple[float, float]:
    try:
        tokens, stamp = (float(part) for part in text.split())
    except ValueError:  # new, or cut short by a crash: start full
        return float(capacity), now
    return tokens, stamp


class RedisRateLimiter(RateLimiter):
    """A token bucket in Redis, shared by every process that uses the same key.

    If Redis cannot be reached, each slice falls back to this machine's bucket instead of
    raising: a raise in the middle of a batch would lose the results of the messages already
    sent, and they would be sent again.
    """

    def __init__(self, client: redis.Redis, rate: float, key: str, fallback: RateLimiter) -> None:
        self.rate = rate
        self.capacity = bucket_size(rate)
        self.key = key
        self.fallback = fallback
        self._take = client.register_script(_TAKE_TOKENS)

    def acquire(self, n: int = 1) -> None:
        for part in _parts(n, self.capacity):
            try:
                while (wait := self._wait_for(part)) > 0:
                    time.sleep(wait)
            except redis.RedisError as exc:
                log.warning("rate limit %s: Redis unavailable, limiting locally: %s", self.key, exc)
                self.fallback.acquire(part)

    def _wait_for(self, n: int) -> float:
        return float(self._take([self.key], [self.rate, self.capacity, n]))


def make_rate_limiter(settings: Settings, *, key: str = BUCKET_KEY) -> RateLimiter:
    """The messages-per-second limit the settings ask for (RATE_LIMIT_PER_SECOND, 0 = none)."""
    rate = settings.RATE_LIMIT_PER_SECOND
    if rate == 0:
        return Unlimited()
    local = LocalRateLimiter(_local_path(settings, key, ".bucket"), rate)
    url = redis_url(settings)
    if url is None:
        return local
    return RedisRateLimiter(_redis(url), rate, key, fallback=local)


def _local_path(settings: Settings, key: str, suffix: str) -> Path:
    return Path(settings.VAR_DIR) / "ratelimit" / (key.replace(":", "-") + suffix)


# -- concurrent SMTP connections -------------------------------------------------------------


@contextmanager
def local_slot(base: Path, cap: int) -> Iterator[None]:
    """Hold one of `cap` lock files named after `base` for the block. The kernel releases the
    lock of a process that dies, so a killed worker frees its slot at once."""
    base.parent.mkdir(parents=True, exist_ok=True)
    held = _lock_one_of(base, cap)
    try:
        yield
    finally:
        held.close()  # closing releases the lock


def _lock_one_of(base: Path, cap: int) -> IO[str]:
    while True:
        for index in range(cap):
            file = open(f"{base}.{index}", "a")  # noqa: SIM115 - the caller closes it
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                file.close()
                continue
            return file
        time.sleep(_SLOT_POLL_SECONDS * (0.5 + random.random()))


class RedisSlots:
    """At most `cap` holders at once across all processes; a dead holder's slot expires."""

    def __init__(self, client: redis.Redis, cap: int, key: str, ttl: float) -> None:
        self.cap = cap
        self.key = key
        self.ttl = ttl
        self._client = client
        self._take = client.register_script(_TAKE_SLOT)
        self._renew = client.register_script(_RENEW_SLOT)

    @contextmanager
    def hold(self) -> Iterator[None]:
        holder = uuid.uuid4().hex
        while not self._take([self.key], [self.cap, self.ttl, holder]):
            # Jitter, so waiting workers do not all ask at the same instant.
            time.sleep(_SLOT_POLL_SECONDS * (0.5 + random.random()))
        stop = threading.Event()
        keeper = threading.Thread(target=self._keep, args=(holder, stop), daemon=True)
        keeper.start()
        try:
            yield
        finally:
            stop.set()
            keeper.join()
            self._release(holder)

    def _release(self, holder: str) -> None:
        # Never raise here: the block's results (messages sent) must reach the ledger.
        try:
            self._client.zrem(self.key, holder)
        except redis.RedisError as exc:
            log.warning(
                "could not release SMTP connection slot %s, it will lapse: %s", self.key, exc
            )

    def _keep(self, holder: str, stop: threading.Event) -> None:
        # Renew well before expiry for as long as the holder is alive; a killed process stops
        # renewing and its slot lapses.
        while not stop.wait(self.ttl / 3):
            try:
                renewed = self._renew([self.key], [self.ttl, holder])
            except redis.RedisError as exc:
                log.warning("could not renew SMTP connection slot %s: %s", self.key, exc)
                continue
            if not renewed:
                log.warning("SMTP connection slot %s lapsed before it was renewed", self.key)


@contextmanager
def connection_slot(
    settings: Settings, *, key: str = SLOTS_KEY, ttl: float = SLOT_TTL_SECONDS
) -> Iterator[None]:
    """Hold one of settings.MAX_SMTP_CONNECTIONS slots for the duration of the block."""
    cap = settings.MAX_SMTP_CONNECTIONS
    url = redis_url(settings)
    if url is None:
        with local_slot(_local_path(settings, key, ".slot"), cap):
            yield
        return
    with RedisSlots(_redis(url), cap, key, ttl).hold():
        yield

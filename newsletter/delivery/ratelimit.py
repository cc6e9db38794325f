"""Limits that hold across every worker: messages per second and concurrent SMTP connections.

With Redis (settings.REDIS_URL, or a redis:// BROKER_URL) both live in Redis, so ten workers
together send no faster than one is allowed to. Without it (the embedded default) they are kept
in this process. Celery's own rate_limit is per worker, which is why this exists.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache

import redis

from newsletter.config import Settings

log = logging.getLogger(__name__)

BUCKET_KEY = "newsletter:ratelimit:messages"
SLOTS_KEY = "newsletter:smtp-connections"
# A slot outlives its holder by at most this long; holders renew it while they live.
SLOT_TTL_SECONDS = 60.0
_SLOT_POLL_SECONDS = 0.1

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
if tokens >= n then tokens = tokens - n else wait = (n - tokens) / rate end
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
    if tokens >= n:
        return tokens - n, 0.0
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
    """A token bucket for the threads of this process."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.capacity = bucket_size(rate)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(self.capacity)
        self._stamp = clock()

    def acquire(self, n: int = 1) -> None:
        for part in _parts(n, self.capacity):
            while (wait := self._try_take(part)) > 0:
                self._sleep(wait)

    def _try_take(self, n: int) -> float:
        with self._lock:
            now = self._clock()
            self._tokens = refill(self._tokens, now - self._stamp, self.rate, self.capacity)
            self._stamp = now
            self._tokens, wait = take(self._tokens, n, self.rate)
            return wait


class RedisRateLimiter(RateLimiter):
    """A token bucket in Redis, shared by every process that uses the same key."""

    def __init__(self, client: redis.Redis, rate: float, key: str = BUCKET_KEY) -> None:
        self.rate = rate
        self.capacity = bucket_size(rate)
        self.key = key
        self._take = client.register_script(_TAKE_TOKENS)

    def acquire(self, n: int = 1) -> None:
        for part in _parts(n, self.capacity):
            while (wait := float(self._take([self.key], [self.rate, self.capacity, part]))) > 0:
                time.sleep(wait)


def make_rate_limiter(settings: Settings, *, key: str = BUCKET_KEY) -> RateLimiter:
    """The messages-per-second limit the settings ask for (RATE_LIMIT_PER_SECOND, 0 = none)."""
    rate = settings.RATE_LIMIT_PER_SECOND
    if rate == 0:
        return Unlimited()
    url = redis_url(settings)
    if url is None:
        return LocalRateLimiter(rate)
    return RedisRateLimiter(_redis(url), rate, key)


# -- concurrent SMTP connections -------------------------------------------------------------

_local_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_local_slots_lock = threading.Lock()


def _local_semaphore(key: str, cap: int) -> threading.BoundedSemaphore:
    with _local_slots_lock:
        return _local_slots.setdefault((key, cap), threading.BoundedSemaphore(cap))


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
            self._client.zrem(self.key, holder)

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
        with _local_semaphore(key, cap):
            yield
        return
    with RedisSlots(_redis(url), cap, key, ttl).hold():
        yield

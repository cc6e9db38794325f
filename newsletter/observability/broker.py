"""How many messages wait in each queue, read straight from the broker (Redis, or the embedded
broker's SQLite file: ADR 0004), with short timeouts so a health check never hangs on it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from newsletter.config import EMBEDDED_BROKER, Settings
from newsletter.dispatch import QUEUES

TIMEOUT_SECONDS = 3.0


class BrokerUnreachable(Exception):
    """The broker did not answer; the message says which and why."""


def queue_depths(settings: Settings) -> dict[str, int]:
    """Messages waiting (not yet taken by a worker) per queue."""
    if settings.BROKER_URL == EMBEDDED_BROKER:
        return _embedded_depths(settings.embedded_broker_path)
    if settings.BROKER_URL.startswith(("redis://", "rediss://")):
        return _redis_depths(settings.BROKER_URL)
    return {}  # memory:// lives inside one process: nothing to look at from outside


def describe(settings: Settings) -> str:
    """The broker, fit to print: the embedded file's path, or the URL without its password."""
    if settings.BROKER_URL == EMBEDDED_BROKER:
        return f"embedded ({settings.embedded_broker_path})"
    from sqlalchemy.engine import make_url

    try:
        return make_url(settings.BROKER_URL).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can read: show the scheme only
        return settings.BROKER_URL.split("://", 1)[0] + "://…"


def _embedded_depths(path: Path) -> dict[str, int]:
    if not path.exists():
        raise BrokerUnreachable(f"the embedded broker {path} does not exist yet (start a worker)")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=TIMEOUT_SECONDS) as db:
            rows = db.execute(
                "SELECT q.name, COUNT(m.id) FROM kombu_queue q "
                "LEFT JOIN kombu_message m ON m.queue_id = q.id AND m.visible = 1 "
                "GROUP BY q.name"
            ).fetchall()
    except sqlite3.Error as exc:
        raise BrokerUnreachable(f"cannot read the embedded broker {path}: {exc}") from exc
    found = dict(rows)
    return {name: int(found.get(name, 0)) for name in QUEUES}


def _redis_depths(url: str) -> dict[str, int]:
    import redis
    from kombu.transport.redis import PRIORITY_STEPS, Channel

    def key(queue: str, priority: int) -> str:  # as kombu names a queue's priority lists
        return f"{queue}{Channel.sep}{priority}" if priority else queue

    client = redis.Redis.from_url(
        url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
    )
    try:
        with client.pipeline(transaction=False) as pipe:
            for queue in QUEUES:
                for priority in PRIORITY_STEPS:
                    pipe.llen(key(queue, priority))
            sizes = pipe.execute()
    except redis.RedisError as exc:
        raise BrokerUnreachable(f"Redis at {_where(url)} did not answer: {exc}") from exc
    finally:
        client.close()
    steps = len(PRIORITY_STEPS)
    return {queue: sum(sizes[i * steps : (i + 1) * steps]) for i, queue in enumerate(QUEUES)}


def _where(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}"

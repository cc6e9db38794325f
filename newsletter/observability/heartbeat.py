"""Heartbeats: every HEARTBEAT_SECONDS each worker and beat says it is alive, twice over:

- a file under VAR_DIR/run touched on each beat, which `newsletter health worker|beat` reads:
  the container's liveness check, on the process's own machine, needing nothing else;
- a row in `process_heartbeat`, which `newsletter status`, the dashboard, /metrics and the watch
  read: every worker and beat on every host, by its unique node name.

The row is written through a connection of its own, opened and closed each time (NullPool): a
worker's main process forks its pool, and must hold no database connection a child could share.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from newsletter.config import Settings
from newsletter.models import ProcessHeartbeat, ProcessKind, utcnow
from newsletter.observability import metrics

log = logging.getLogger(__name__)

MISSED_BEATS = 3  # a process unheard for this many heartbeats is taken for dead
FORGET_AFTER = timedelta(days=7)


def node_name(kind: ProcessKind, name: str | None = None) -> str:
    """`worker@host-pid` by default, so that workers on one host never share a name; a given
    name is used as it is, or as name@host when it has no host part."""
    host = socket.gethostname()
    if not name:
        return f"{kind.value}@{host}-{os.getpid()}"
    return name if "@" in name else f"{name}@{host}"


def max_age(settings: Settings) -> float:
    return MISSED_BEATS * settings.HEARTBEAT_SECONDS


def run_dir(settings: Settings) -> Path:
    return settings.VAR_DIR / "run"


def heartbeat_file(settings: Settings, name: str) -> Path:
    return run_dir(settings) / f"{name}.alive"


class Heartbeat:
    """One process's heartbeat; call beat() as often as you like, it writes at most every
    HEARTBEAT_SECONDS."""

    def __init__(self, kind: ProcessKind, name: str, settings: Settings) -> None:
        self.kind = kind
        self.name = name
        self.settings = settings
        self.started_at = utcnow()
        self._last = -float("inf")

    def beat(self, force: bool = False) -> bool:
        """Write the heartbeat if it is due; returns whether it wrote."""
        now = time.monotonic()
        if not force and now - self._last < self.settings.HEARTBEAT_SECONDS:
            return False
        self._last = now
        path = heartbeat_file(self.settings, self.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        metrics.heartbeat(self.kind.value)
        self._write(stopped=False)
        return True

    def stop(self) -> None:
        heartbeat_file(self.settings, self.name).unlink(missing_ok=True)
        self._write(stopped=True)

    def _write(self, stopped: bool) -> None:
        try:
            with Session(_engine(self.settings.DATABASE_URL)) as session, session.begin():
                record(session, self, utcnow(), stopped)
        except SQLAlchemyError as exc:
            # The file still proves the process alive; the database has its own checks.
            log.warning("could not record the heartbeat of %s: %s", self.name, exc)


def record(session: Session, heartbeat: Heartbeat, now: datetime, stopped: bool) -> None:
    from newsletter.db import insert_for

    values = {
        "kind": heartbeat.kind,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": heartbeat.started_at,
        "last_seen_at": now,
        "stopped_at": now if stopped else None,
    }
    statement: Any = insert_for(session, ProcessHeartbeat).values(name=heartbeat.name, **values)
    session.execute(statement.on_conflict_do_update(index_elements=["name"], set_=values))
    session.execute(
        delete(ProcessHeartbeat).where(ProcessHeartbeat.last_seen_at < now - FORGET_AFTER)
    )


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    from newsletter.db import make_engine

    return make_engine(url, poolclass=NullPool)


# Reading them ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    name: str
    kind: ProcessKind
    host: str
    pid: int
    started_at: datetime
    last_seen_at: datetime
    alive: bool


def processes(session: Session, now: datetime, settings: Settings) -> list[Seen]:
    """Every worker and beat heard of lately, the living first."""
    cutoff = now - timedelta(seconds=max_age(settings))
    rows = session.scalars(
        select(ProcessHeartbeat).order_by(ProcessHeartbeat.kind, ProcessHeartbeat.name)
    )
    seen = [
        Seen(
            row.name,
            row.kind,
            row.host,
            row.pid,
            row.started_at,
            row.last_seen_at,
            alive=row.stopped_at is None and row.last_seen_at >= cutoff,
        )
        for row in rows
    ]
    return sorted(seen, key=lambda s: (not s.alive, s.kind.value, s.name))


def last_seen(session: Session, kind: ProcessKind) -> datetime | None:
    """When any process of this kind last wrote its heartbeat."""
    return session.scalar(
        select(ProcessHeartbeat.last_seen_at)
        .where(ProcessHeartbeat.kind == kind)
        .order_by(ProcessHeartbeat.last_seen_at.desc())
        .limit(1)
    )


def liveness(settings: Settings, kind: ProcessKind, name: str | None = None) -> tuple[bool, str]:
    """From the files on this machine: is a process of this kind (or this one) alive?"""
    pattern = f"{name if name and '@' in name else (name or kind.value) + '@*'}.alive"
    limit = max_age(settings)
    ages = {
        path.name.removesuffix(".alive"): time.time() - path.stat().st_mtime
        for path in run_dir(settings).glob(pattern)
    }
    if not ages:
        return False, f"no {kind.value} heartbeat in {run_dir(settings)}"
    name, age = min(ages.items(), key=lambda item: item[1])
    if age > limit:
        return False, f"{name}: last heartbeat {age:.0f} s ago (more than {limit:.0f} s)"
    return True, f"{name}: last heartbeat {age:.0f} s ago"

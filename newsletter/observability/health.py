"""Readiness: can this process do its job? The database (reachable and migrated), the broker
and, when email goes out over SMTP, the SMTP server, each checked with its time taken.

Liveness needs none of this: /healthz answers as long as the process does, and workers and
beat prove theirs with heartbeats (heartbeat.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import Any

from newsletter.config import Settings

TIMEOUT_SECONDS = 5.0


class CheckFailed(Exception):
    """One line saying what is wrong."""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    seconds: float
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 4)}


def first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def check_database(settings: Settings) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from newsletter.db import HEAD_REVISION, NotMigrated, current_revision, get_engine

    where = make_url(settings.DATABASE_URL).render_as_string(hide_password=True)
    try:
        revision = current_revision(get_engine(settings.DATABASE_URL))
    except NotMigrated as exc:
        raise CheckFailed(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise CheckFailed(f"cannot reach the database {where}: {first_line(exc)}") from exc
    if revision != HEAD_REVISION:
        state = "has no tables" if revision is None else f"is at revision {revision}"
        raise CheckFailed(f"the database {state}, the code needs {HEAD_REVISION}: run db upgrade")
    return f"{where} at revision {revision}"


def check_broker(settings: Settings) -> str:
    from newsletter.observability.broker import BrokerUnreachable, describe, queue_depths

    try:
        depths = queue_depths(settings)
    except BrokerUnreachable as exc:
        raise CheckFailed(str(exc)) from exc
    waiting = ", ".join(f"{queue} {count}" for queue, count in depths.items())
    return f"{describe(settings)}: {waiting or 'no queues to count'}"


def check_backend(settings: Settings) -> str:
    """Open a connection to the email backend and close it (SMTP: connect, EHLO, login, QUIT)."""
    from newsletter.delivery.backends import BackendUnavailable, UnknownBackend, get_backend

    try:
        get_backend(settings=settings).open().close()
    except (BackendUnavailable, UnknownBackend) as exc:
        raise CheckFailed(str(exc)) from exc
    if settings.EMAIL_BACKEND == "smtp":
        return f"SMTP server at {settings.SMTP_HOST}:{settings.SMTP_PORT} answered"
    return f"{settings.EMAIL_BACKEND} backend opened"


def readiness_checks(settings: Settings) -> dict[str, Callable[[Settings], str]]:
    checks: dict[str, Callable[[Settings], str]] = {
        "database": check_database,
        "broker": check_broker,
    }
    if settings.EMAIL_BACKEND == "smtp":
        checks["smtp"] = check_backend
    return checks


def run_checks(
    settings: Settings,
    checks: dict[str, Callable[[Settings], str]],
    timeout: float = TIMEOUT_SECONDS,
) -> list[Check]:
    """Every check at once, each allowed `timeout` seconds; one that hangs counts as failed."""
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="check")
    started = time.perf_counter()
    futures = {name: pool.submit(_timed, check, settings) for name, check in checks.items()}
    wait(futures.values(), timeout=timeout)
    pool.shutdown(wait=False, cancel_futures=True)
    results = []
    for name, future in futures.items():
        if future.done():
            results.append(Check(name, *future.result()))
        else:
            elapsed = time.perf_counter() - started
            results.append(Check(name, False, elapsed, f"no answer within {timeout:g} s"))
    return results


def _timed(check: Callable[[Settings], str], settings: Settings) -> tuple[bool, float, str]:
    started = time.perf_counter()
    try:
        detail = check(settings)
        ok = True
    except CheckFailed as exc:
        detail, ok = str(exc), False
    except Exception as exc:  # a check must answer, whatever went wrong
        detail, ok = f"{type(exc).__name__}: {first_line(exc)}", False
    return ok, time.perf_counter() - started, detail


def readiness(settings: Settings, timeout: float = TIMEOUT_SECONDS) -> list[Check]:
    return run_checks(settings, readiness_checks(settings), timeout)

"""`newsletter status`: everything an operator asks first, in one report (a dict, printed as
tables or JSON): database, broker and its queues, workers and beat, the work in hand, the last
digests, the email backend, and what is wrong."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from newsletter.config import EMBEDDED_BROKER, Settings
from newsletter.db import session_scope
from newsletter.models import ProcessKind, utcnow
from newsletter.observability import health, heartbeat
from newsletter.observability.broker import describe
from newsletter.observability.state import ledger_state


def gather(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    checks = {
        check.name: check
        for check in health.run_checks(
            settings,
            {
                "database": health.check_database,
                "broker": health.check_broker,
                "backend": health.check_backend,
            },
        )
    }
    report: dict[str, Any] = {
        "checked_at": now.isoformat(),
        "database": _check(checks["database"]),
        "broker": {
            "url": describe(settings),
            "embedded": settings.BROKER_URL == EMBEDDED_BROKER,
            **_check(checks["broker"]),
            "queues": _depths(settings) if checks["broker"].ok else None,
        },
        "backend": {"name": settings.EMAIL_BACKEND, **_check(checks["backend"])},
        "workers": [],
        "beat": None,
        "sends": None,
        "deliveries": None,
        "digests": None,
        "incidents": [],
    }
    if checks["database"].ok:
        with session_scope(settings.DATABASE_URL) as session:
            report.update(_from_database(session, now, settings))
    if checks["broker"].ok and settings.BROKER_URL != EMBEDDED_BROKER:
        _add_pings(report["workers"])
    report["problems"] = problems(report)
    return report


def _check(check: health.Check) -> dict[str, Any]:
    return {"reachable": check.ok, "detail": check.detail, "seconds": round(check.seconds, 4)}


def _depths(settings: Settings) -> dict[str, int]:
    from newsletter.observability.broker import queue_depths

    return queue_depths(settings)


def _from_database(session: Session, now: datetime, settings: Settings) -> dict[str, Any]:
    from newsletter import incidents

    ledger = ledger_state(session, now, settings)
    processes = heartbeat.processes(session, now, settings)
    beats = [p for p in processes if p.kind == ProcessKind.BEAT]
    beat = max(beats, key=lambda p: p.last_seen_at) if beats else None
    return {
        "workers": [
            {
                "name": p.name,
                "host": p.host,
                "pid": p.pid,
                "alive": p.alive,
                "started_at": p.started_at.isoformat(),
                "last_seen_at": p.last_seen_at.isoformat(),
            }
            for p in processes
            if p.kind == ProcessKind.WORKER
        ],
        "beat": None
        if beat is None
        else {"name": beat.name, "alive": beat.alive, "last_tick": beat.last_seen_at.isoformat()},
        "sends": {"running": len(ledger.running), "by_status": ledger.sends_by_status},
        "deliveries": {
            "pending": ledger.deliveries["pending"],
            "sending": ledger.deliveries["sending"],
            "deferred": ledger.deliveries["deferred"],
            "failed_last_day": ledger.failed_recently,
            "stuck": ledger.stuck,
            "oldest_pending_at": _iso(ledger.oldest_pending_at),
            "oldest_pending_seconds": round(ledger.oldest_pending_age(now), 1),
        },
        "digests": {
            frequency: None if last is None else _digest(last)
            for frequency, last in ledger.last_digests.items()
        },
        "incidents": [
            {
                "kind": incident.kind.value,
                "summary": incident.summary,
                "opened_at": incident.opened_at.isoformat(),
                "told": incident.notified_at is not None,
            }
            for incident in incidents.shown(session)
        ],
    }


def _digest(last: dict[str, Any]) -> dict[str, Any]:
    return {**last, **{name: _iso(last[name]) for name in ("created_at", "finished_at")}}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _add_pings(workers: list[dict[str, Any]]) -> None:
    """With Redis, workers also answer Celery's ping: add whether each did (and any that answer
    without a heartbeat row)."""
    from newsletter import dispatch

    answering = set(dispatch.ping_workers())
    for worker in workers:
        worker["answers_ping"] = worker["name"] in answering
    known = {worker["name"] for worker in workers}
    for name in sorted(answering - known):
        workers.append({"name": name, "alive": True, "answers_ping": True})


def problems(report: dict[str, Any]) -> list[str]:
    """What is wrong, one line each, from a report."""
    found = []
    for part in ("database", "broker", "backend"):
        if not report[part]["reachable"]:
            found.append(f"{part}: {report[part]['detail']}")
    if report["database"]["reachable"]:
        found += live_problems_of(report)
        found += [incident["summary"] for incident in report["incidents"]]
    return found


def live_problems_of(report: dict[str, Any]) -> list[str]:
    found = []
    if not any(worker["alive"] for worker in report["workers"]):
        found.append("no worker is running: queued email waits (start `newsletter worker`)")
    beat = report["beat"]
    if beat is None:
        found.append("beat has never run: no digests, reminders, scheduled sends or recovery")
    elif not beat["alive"]:
        found.append(f"beat is not ticking (last tick {beat['last_tick']})")
    return found


def live_problems(session: Session, now: datetime, settings: Settings) -> list[str]:
    """What the heartbeats say is wrong right now: for the dashboard's banner."""
    processes = heartbeat.processes(session, now, settings)
    beats = [p for p in processes if p.kind == ProcessKind.BEAT]
    beat = max(beats, key=lambda p: p.last_seen_at) if beats else None
    return live_problems_of(
        {
            "workers": [{"alive": p.alive} for p in processes if p.kind == ProcessKind.WORKER],
            "beat": None
            if beat is None
            else {"alive": beat.alive, "last_tick": f"{beat.last_seen_at:%Y-%m-%d %H:%M:%S} UTC"},
        }
    )

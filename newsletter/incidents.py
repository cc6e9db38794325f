"""Incidents: what the watch found wrong, each recorded once, told to admins once, shown on the
dashboard until it is over (or dismissed).

An incident is named by its key ("stuck_send:42"); the watch finds it again on each pass and
only touches it. It is resolved when a pass no longer finds it; if the same key comes back
later, it is a new occurrence and is told again. Two watchers (two beats) may run: opening is
an upsert on the key and telling is claimed with a conditional UPDATE, so each is done once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, case, func, select, update
from sqlalchemy.orm import Session

from newsletter import audit
from newsletter.db import insert_for
from newsletter.models import Incident, IncidentKind

# A watcher that claimed an incident to tell and died: another may try after this long.
CLAIM_TIMEOUT = timedelta(minutes=5)


@dataclass(frozen=True)
class Finding:
    kind: IncidentKind
    key: str
    summary: str
    detail: str = ""


def sync(
    session: Session, checked: Iterable[IncidentKind], findings: Sequence[Finding], now: datetime
) -> None:
    """Open or touch an incident per finding; resolve the open ones of the kinds checked that
    were not found this time."""
    table = Incident.__table__.c
    for finding in findings:
        statement: Any = insert_for(session, Incident).values(
            key=finding.key,
            kind=finding.kind,
            summary=finding.summary,
            detail=finding.detail,
            opened_at=now,
            last_seen_at=now,
            dismissed_by="",
            notify_error="",
        )
        back = table.resolved_at.is_not(None)  # it had ended: this is a new occurrence
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "summary": finding.summary,
                    "detail": finding.detail,
                    "last_seen_at": now,
                    "opened_at": case((back, now), else_=table.opened_at),
                    "resolved_at": None,
                    "dismissed_at": case((back, None), else_=table.dismissed_at),
                    "notified_at": case((back, None), else_=table.notified_at),
                    "notify_claimed_at": case((back, None), else_=table.notify_claimed_at),
                },
            )
        )
    found = [finding.key for finding in findings]
    session.execute(
        update(Incident)
        .where(
            Incident.kind.in_(list(checked)),
            Incident.resolved_at.is_(None),
            Incident.key.not_in(found),
        )
        .values(resolved_at=now)
        .execution_options(synchronize_session=False)
    )


def open_keys(session: Session, kind: IncidentKind) -> list[str]:
    return list(
        session.scalars(
            select(Incident.key).where(Incident.kind == kind, Incident.resolved_at.is_(None))
        )
    )


def shown(session: Session) -> list[Incident]:
    """What the dashboard's banner shows: open and not dismissed, oldest first."""
    return list(
        session.scalars(
            select(Incident)
            .where(Incident.resolved_at.is_(None), Incident.dismissed_at.is_(None))
            .order_by(Incident.opened_at, Incident.id)
        )
    )


def open_counts(session: Session) -> dict[str, int]:
    """{kind: open incidents} with every kind present."""
    counts = {kind.value: 0 for kind in IncidentKind}
    rows = session.execute(
        select(Incident.kind, func.count())
        .where(Incident.resolved_at.is_(None))
        .group_by(Incident.kind)
    )
    for kind, count in rows:
        counts[IncidentKind(kind).value] = count
    return counts


def dismiss(session: Session, incident_id: int, actor: str, now: datetime) -> bool:
    """Hide an open incident from the banner; it still ends (and may recur) on its own."""
    done = cast(
        CursorResult[Any],
        session.execute(
            update(Incident)
            .where(
                Incident.id == incident_id,
                Incident.resolved_at.is_(None),
                Incident.dismissed_at.is_(None),
            )
            .values(dismissed_at=now, dismissed_by=actor)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if done:
        audit.record(session, actor, "incident.dismiss", "incident", incident_id)
    return bool(done)


def claim_untold(session: Session, now: datetime) -> list[Incident]:
    """Take the open incidents no admin has been told of yet, for this watcher to tell."""
    ids = session.scalars(
        update(Incident)
        .where(
            Incident.resolved_at.is_(None),
            Incident.notified_at.is_(None),
            (Incident.notify_claimed_at.is_(None))
            | (Incident.notify_claimed_at < now - CLAIM_TIMEOUT),
        )
        .values(notify_claimed_at=now)
        .returning(Incident.id)
        .execution_options(synchronize_session=False)
    ).all()
    if not ids:
        return []
    return list(session.scalars(select(Incident).where(Incident.id.in_(ids)).order_by(Incident.id)))


def told(session: Session, incident_id: int, now: datetime, error: str = "") -> None:
    """Record the outcome: told, or not (error), in which case the next pass tries again."""
    values = (
        {"notified_at": now, "notify_error": ""}
        if not error
        else {
            "notify_claimed_at": None,
            "notify_error": error,
        }
    )
    session.execute(
        update(Incident)
        .where(Incident.id == incident_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )

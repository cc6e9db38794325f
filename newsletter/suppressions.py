"""The suppression list as admins manage it: addresses that must never be emailed.

Bounces and complaints are added by the delivery ledger and the return path (inbound/);
admins add addresses by hand and remove them, giving a reason that the audit trail keeps.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter import audit
from newsletter.members import MemberError, normalise_email
from newsletter.models import InboundEvent, Suppression, SuppressionReason


class SuppressionError(ValueError):
    pass


def list_suppressions(session: Session, search: str = "", limit: int = 500) -> list[Suppression]:
    query = select(Suppression).order_by(Suppression.created_at.desc()).limit(limit)
    if search.strip():
        query = query.where(Suppression.email.contains(search.strip().lower(), autoescape=True))
    return list(session.scalars(query))


def suppressions_with_evidence(
    session: Session, search: str = "", limit: int = 500
) -> list[dict[str, object]]:
    """Each suppression with its evidence: the note, and the bounce or complaint behind it."""
    query = (
        select(Suppression, InboundEvent)
        .outerjoin(InboundEvent, InboundEvent.id == Suppression.event_id)
        .order_by(Suppression.created_at.desc(), Suppression.id.desc())
        .limit(limit)
    )
    if search.strip():
        query = query.where(Suppression.email.contains(search.strip().lower(), autoescape=True))
    rows = []
    for row, event in session.execute(query).tuples():
        item: dict[str, object] = {
            "email": row.email,
            "reason": row.reason.value,
            "evidence": row.note,
            "created_at": row.created_at.isoformat(),
        }
        if event is not None:
            item["event"] = {
                "id": event.id,
                "kind": event.kind.value,
                "status": event.status,
                "diagnostic": event.diagnostic,
                "source": event.source,
                "received_at": event.created_at.isoformat(),
            }
        rows.append(item)
    return rows


def count_suppressions(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Suppression)) or 0


def add_suppression(session: Session, email: str, note: str, actor: str) -> Suppression:
    try:
        email = normalise_email(email)
    except MemberError as exc:
        raise SuppressionError(str(exc)) from None
    if session.scalar(select(Suppression.id).where(Suppression.email == email)) is not None:
        raise SuppressionError(f"{email} is already on the suppression list")
    row = Suppression(email=email, reason=SuppressionReason.MANUAL, note=note.strip()[:2000])
    session.add(row)
    session.flush()
    audit.record(session, actor, "suppression.add", "suppression", email, note=row.note)
    return row


def remove_suppression(session: Session, suppression_id: int, reason: str, actor: str) -> str:
    """Take an address off the list; the reason is required and kept in the audit trail."""
    if not reason.strip():
        raise SuppressionError("say why this address may be emailed again")
    row = session.get(Suppression, suppression_id)
    if row is None:
        raise SuppressionError("that address is no longer on the suppression list")
    session.delete(row)
    audit.record(
        session,
        actor,
        "suppression.remove",
        "suppression",
        row.email,
        was=row.reason.value,
        reason=reason.strip()[:2000],
    )
    return row.email


def restore_suppression(
    session: Session,
    email: str,
    reason: SuppressionReason,
    note: str,
    at: datetime,
    actor: str,
) -> bool:
    """Put an address on the list as an import file has it (its reason and time); False when
    it is there already (an import never takes an address off)."""
    if session.scalar(select(Suppression.id).where(Suppression.email == email)) is not None:
        return False
    session.add(Suppression(email=email, reason=reason, note=note[:2000], created_at=at))
    audit.record(
        session, actor, "suppression.add", "suppression", email, note=note, source="import"
    )
    return True

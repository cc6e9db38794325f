"""Telling admins of an incident by email.

Staff are not members: these emails have no ledger row, no unsubscribe link and no consent
record. They go through the configured email backend with `delivery.one_off.send_one_off`, as
a staff test send does; the incident row is their ledger (told once, tried again on the next
pass until it goes). ADR 0007 says why, and what covers the one case this cannot: a backend
that refuses everything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.config import Settings
from newsletter.models import Incident, IncidentKind, StaffRole, StaffUser

if TYPE_CHECKING:
    from newsletter.rendering.prepared import PreparedEmail

# The headings of docs/operations.md that say what each incident means and what to do.
RUNBOOK = {
    IncidentKind.STUCK_SEND: "A send is stuck",
    IncidentKind.MISSED_SEND: "A scheduled send was missed",
    IncidentKind.DIGEST_NOT_RUN: "A digest did not run",
    IncidentKind.BACKEND_REFUSING: "The email backend refuses everything",
    IncidentKind.NO_WORKER: "No worker is running",
}


def recipients(session: Session, settings: Settings) -> list[str]:
    """NEWSLETTER_ALERT_EMAILS, then every active admin, each address once."""
    admins = session.scalars(
        select(StaffUser.email)
        .where(StaffUser.role == StaffRole.ADMIN, StaffUser.active.is_(True))
        .order_by(StaffUser.email)
    )
    seen: dict[str, None] = {}
    for address in [*settings.ALERT_EMAILS, *admins]:
        seen.setdefault(address.strip().lower(), None)
    return list(seen)


def tell(incident: Incident, addresses: list[str], settings: Settings) -> str:
    """Email the incident to each address; "" when at least one took it, else why not."""
    from newsletter.delivery.backends import BackendUnavailable
    from newsletter.delivery.backends.base import Outcome
    from newsletter.delivery.one_off import send_one_off
    from newsletter.rendering import Recipient, RecipientError

    if not addresses:
        return "no admin to tell: create an admin, or set NEWSLETTER_ALERT_EMAILS"
    prepared = prepare_email(incident, settings)
    messages, problems = [], []
    for address in addresses:
        try:
            messages.append(prepared.personalise(Recipient(0, address, "", 0)))
        except RecipientError as exc:
            problems.append(f"{address}: {exc}")
    try:
        results = send_one_off(messages, settings) if messages else []
    except BackendUnavailable as exc:
        return str(exc)
    if any(result.outcome == Outcome.SENT for result in results):
        return ""
    problems += [f"{m.to}: {r.detail}" for m, r in zip(messages, results, strict=True)]
    return "; ".join(problems) or "not sent"


def prepare_email(incident: Incident, settings: Settings) -> PreparedEmail:
    """The email that tells admins of this incident, before it is addressed."""
    from newsletter.rendering.build import EmailSpec, prepare

    opened = incident.opened_at.astimezone(ZoneInfo(settings.TIMEZONE))
    context = {
        "summary": incident.summary,
        "detail": incident.detail,
        "opened": f"{opened:%Y-%m-%d %H:%M} ({settings.TIMEZONE})",
        "dashboard_url": f"{settings.BASE_URL}/staff",
        "runbook": RUNBOOK[incident.kind],
    }
    return prepare(EmailSpec("incident", context, bulk=False))

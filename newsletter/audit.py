"""The audit trail: who changed what, and when."""

from __future__ import annotations

import getpass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from newsletter.models import AuditEvent
from newsletter.paging import Page, fetch_page


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def record(
    session: Session,
    actor: str,
    action: str,
    object_type: str,
    object_id: object = "",
    **detail: Any,
) -> None:
    session.add(
        AuditEvent(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            detail=detail,
        )
    )


def events_about(
    session: Session, object_type: str, object_id: object, limit: int
) -> list[AuditEvent]:
    """The latest events about one object, newest first."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_type == object_type, AuditEvent.object_id == str(object_id))
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
    )


def search_events(session: Session, text: str, page: int, page_size: int) -> Page[AuditEvent]:
    """Events whose actor or action contains `text`, or about the object of id `text`; newest
    first."""
    query = select(AuditEvent)
    if text:
        query = query.where(
            or_(
                AuditEvent.actor.contains(text, autoescape=True),
                AuditEvent.action.contains(text, autoescape=True),
                AuditEvent.object_id == text,
            )
        )
    query = query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    return fetch_page(session, query, page, page_size)

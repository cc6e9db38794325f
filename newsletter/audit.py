"""The audit trail: who changed what, and when."""

from __future__ import annotations

import getpass
from typing import Any

from sqlalchemy.orm import Session

from newsletter.models import AuditEvent


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

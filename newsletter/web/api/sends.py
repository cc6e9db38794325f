"""API resource: sends, announcements scheduled, listed with their counts, and cancelled."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, HTTPException
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from newsletter.delivery import announcements, progress
from newsletter.models import ApiToken
from newsletter.web.api.auth import api_client, token_actor
from newsletter.web.api.fields import Markdown, Role, Slug, Subject
from newsletter.web.api.responses import ERRORS, links
from newsletter.web.deps import Id, db_session

router = APIRouter(prefix="/api/v1", dependencies=[Depends(api_client)])


class AnnouncementIn(BaseModel):
    subject: Subject
    body_markdown: Markdown
    topics: list[Slug] = Field(min_length=1, max_length=20)
    roles: list[Role] = Field(
        default_factory=list, max_length=20, description="Only members with these roles."
    )
    scheduled_at: AwareDatetime = Field(description="When to send, with its time zone.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "subject": "Spring conference: booking open",
                    "body_markdown": "Book your place at the **spring conference** by Friday.",
                    "topics": ["npq", "careers"],
                    "roles": ["SENCO"],
                    "scheduled_at": "2099-03-14T09:30:00+00:00",
                }
            ]
        }
    )


class SendOut(BaseModel):
    id: int
    kind: str
    status: str
    subject: str
    scheduled_at: str | None
    started_at: str | None
    finished_at: str | None
    recipients: int
    counts: dict[str, int]
    fanning_out: bool  # its fan-out is still writing rows: `recipients` will grow


def _send_out(session: Session, send_id: int) -> SendOut:
    summary = progress.describe_send(session, send_id)
    if summary is None:
        raise HTTPException(404, f"There is no send {send_id}.")
    return SendOut(**{key: getattr(summary, key) for key in SendOut.model_fields})


@router.post(
    "/sends",
    response_model=SendOut,
    status_code=201,
    operation_id="schedule_send",
    responses=ERRORS | links(201, "send_id", "get_send", "cancel_send"),
)
def schedule(
    body: AnnouncementIn,
    token: ApiToken = Depends(api_client),
    session: Session = Depends(db_session),
) -> SendOut:
    """Schedule an announcement to the members of these topics (and roles)."""
    try:
        send = announcements.schedule_announcement(
            session,
            subject=body.subject,
            body_markdown=body.body_markdown,
            topic_slugs=list(body.topics),
            roles=list(body.roles),
            at=_utc(body.scheduled_at),
            actor=token_actor(token),
        )
    except announcements.SendError as exc:
        raise HTTPException(422, str(exc)) from None
    session.commit()
    return _send_out(session, send.id)


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise HTTPException(422, "scheduled_at is out of range") from None


@router.get("/sends", response_model=list[SendOut], operation_id="list_sends", responses=ERRORS)
def list_sends(session: Session = Depends(db_session)) -> list[SendOut]:
    """The 50 most recent sends with their delivery counts."""
    return [
        SendOut(**{key: getattr(s, key) for key in SendOut.model_fields})
        for s in progress.list_sends(session, limit=50)
    ]


@router.get("/sends/{send_id}", response_model=SendOut, operation_id="get_send", responses=ERRORS)
def get_send(send_id: Id, session: Session = Depends(db_session)) -> SendOut:
    """A send's status and its deliveries counted by status."""
    return _send_out(session, send_id)


@router.post(
    "/sends/{send_id}/cancel", response_model=SendOut, operation_id="cancel_send", responses=ERRORS
)
def cancel(
    send_id: Id,
    token: ApiToken = Depends(api_client),
    session: Session = Depends(db_session),
) -> SendOut:
    """Cancel a send that has not started."""
    _send_out(session, send_id)
    try:
        announcements.cancel_send(session, send_id, token_actor(token))
    except announcements.SendError as exc:
        raise HTTPException(422, str(exc)) from None
    session.commit()
    return _send_out(session, send_id)

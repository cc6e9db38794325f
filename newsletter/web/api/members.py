"""API resource: members, upserted with their subscriptions, read with their consent record,
and exported as CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from newsletter import audit, consent, preferences
from newsletter.consent import Change, KeptUnsubscribed
from newsletter.member_export import export_members
from newsletter.members import (
    MemberError,
    find_member,
    iso_time,
    normalise_email,
    upsert_member,
)
from newsletter.models import ApiToken, ConsentSource, Frequency, MemberStatus
from newsletter.topics import topics_by_slug
from newsletter.web.api.auth import api_client, token_actor
from newsletter.web.api.fields import ConsentText, Email, Name, Role, Slug
from newsletter.web.api.responses import ERRORS, links
from newsletter.web.deps import db_session

router = APIRouter(prefix="/api/v1", dependencies=[Depends(api_client)])


class MemberIn(BaseModel):
    email: Email
    name: Name | None = None
    role: Role | None = Field(None, description="e.g. SENCO, phase leader")
    topics: dict[Slug, Frequency] | None = Field(
        None,
        description="Replaces all subscriptions: {topic slug: frequency}. A topic the member "
        "opted out of themselves stays off and is reported in `kept_unsubscribed`.",
    )
    consent: ConsentText | None = Field(
        None,
        description="Where a new member's consent comes from, e.g. 'association membership "
        "terms' (kept with the member; 'api' when not given).",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "ann.archer@example.org",
                    "name": "Ann Archer",
                    "role": "SENCO",
                    "topics": {"funding": "immediate", "npq": "weekly"},
                    "consent": "association membership terms",
                }
            ]
        }
    )


class OptOutOut(BaseModel):
    topic: str | None = Field(description="The topic's slug; null for the whole list.")
    source: str = Field(description="How the member opted out: one-click, manage-page, ...")
    at: str


class KeptOut(BaseModel):
    """A part of the request not applied because the member had opted out themselves."""

    field: str = Field(description="`topics.SLUG` for one topic, `topics` for the whole list.")
    message: str = Field(description="kept unsubscribed: the member opted out on DATE via SOURCE")
    opted_out: OptOutOut


class MemberOut(BaseModel):
    email: str
    name: str
    role: str
    status: str
    paused: bool
    paused_until: str | None = None
    topics: dict[str, str]
    consent: str = Field("", description="Where the member's consent comes from.")
    consent_at: str | None = None
    opted_out: list[OptOutOut] = Field(
        default_factory=list, description="What the member left themselves: it stays off."
    )
    kept_unsubscribed: list[KeptOut] = Field(
        default_factory=list, description="In an upsert's answer: what was asked but not done."
    )
    created: bool | None = None


class ConsentEventOut(BaseModel):
    at: str
    field: str = Field(description="subscription, status, pause or email")
    topic: str | None
    old: str = Field(description="The value before (a frequency for a subscription; '' = off).")
    new: str
    source: str = Field(description="subscribe-form, confirm, manage-page, one-click, ...")
    actor: str = Field(description="staff:EMAIL, token:NAME, cli:USER, member or system")
    reason: str


def _opt_out_out(kept: KeptUnsubscribed) -> OptOutOut:
    return OptOutOut(topic=kept.topic, source=kept.source.value, at=kept.since.isoformat())


def _member_out(
    session: Session,
    email: str,
    created: bool | None = None,
    kept: list[KeptUnsubscribed] | None = None,
) -> MemberOut:
    member = find_member(session, email)
    if member is None:
        raise HTTPException(404, "There is no such member.")
    topics = preferences.subscription_map(session, member)
    return MemberOut(
        email=member.email,
        name=member.name,
        role=member.role,
        status=member.status.value,
        paused=member.paused,
        paused_until=iso_time(member.paused_until),
        topics={slug: frequency.value for slug, frequency in sorted(topics.items())},
        consent=member.consent_basis,
        consent_at=iso_time(member.consent_at),
        opted_out=[_opt_out_out(k) for k in consent.opt_outs_of(session, member)],
        kept_unsubscribed=[
            KeptOut(
                field=f"topics.{k.topic}" if k.topic else "topics",
                message=k.message(),
                opted_out=_opt_out_out(k),
            )
            for k in kept or []
        ],
        created=created,
    )


@router.put(
    "/members",
    response_model=MemberOut,
    operation_id="upsert_member",
    responses=ERRORS
    | links(200, "email", "get_member", "get_member_history")
    | links(201, "email", "get_member", "get_member_history"),
)
def upsert(
    body: MemberIn,
    response: Response,
    token: ApiToken = Depends(api_client),
    session: Session = Depends(db_session),
) -> MemberOut:
    """Add a member (201; active at once, as the integration vouches for them) or update
    one (200). `topics`, when given, replaces all their subscriptions, except the topics the
    member opted out of themselves: those stay off, and the answer lists each of them in
    `kept_unsubscribed`."""
    topics = body.topics
    if topics is not None:
        unknown = sorted(set(topics) - set(topics_by_slug(session)))
        if unknown:
            raise HTTPException(422, f"unknown topic {unknown[0]!r}")
    try:
        done = upsert_member(
            session,
            body.email,
            body.name,
            body.role,
            topics,
            MemberStatus.ACTIVE,
            Change(ConsentSource.API, token_actor(token), reason=(body.consent or "").strip()),
        )
        member, created = done.member, done.created
    except MemberError as exc:
        raise HTTPException(422, str(exc)) from None
    preferences.cancel_stale_deliveries(session, member)
    session.commit()
    if created:
        response.status_code = 201
    return _member_out(session, member.email, created, done.kept)


def _address(email: str) -> str:
    try:
        return normalise_email(email)
    except MemberError:
        raise HTTPException(404, "There is no such member.") from None


@router.get(
    "/members/{email}", response_model=MemberOut, operation_id="get_member", responses=ERRORS
)
def get_member(
    email: Annotated[str, Path(max_length=320)], session: Session = Depends(db_session)
) -> MemberOut:
    return _member_out(session, _address(email))


@router.get(
    "/members/{email}/history",
    response_model=list[ConsentEventOut],
    operation_id="get_member_history",
    responses=ERRORS,
)
def get_member_history(
    email: Annotated[str, Path(max_length=320)], session: Session = Depends(db_session)
) -> list[ConsentEventOut]:
    """The member's consent record, oldest first: every change to their subscriptions,
    status, pause or address, with where it came from and who made it."""
    member = find_member(session, _address(email))
    if member is None:
        raise HTTPException(404, "There is no such member.")
    return [
        ConsentEventOut.model_validate(entry.as_json())
        for entry in consent.history_entries(session, member.id)
    ]


@router.get(
    "/members.csv",
    operation_id="export_members",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "Every member and the suppression list, in the CSV that "
            "`newsletter members import` reads back (see the README, Members' consent).",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        401: ERRORS[401],
    },
)
def export(
    token: ApiToken = Depends(api_client), session: Session = Depends(db_session)
) -> Response:
    """Export every member (status, pause, subscriptions, opt-outs, consent) and the
    suppression list as CSV."""
    audit.record(session, token_actor(token), "member.export", "member")
    text = export_members(session)
    session.commit()
    headers = {"Content-Disposition": 'attachment; filename="members.csv"'}
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)

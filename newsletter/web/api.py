"""The JSON API for integrations, under /api/v1, authenticated by admin-issued API tokens.

Every route sits behind `api_client`, so none answers without a valid bearer token. Input is
validated by the models below (lengths, no NUL characters), so no request can reach the
database with a value it would refuse.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, Security
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from newsletter import audit, consent, preferences
from newsletter.api_tokens import allows, scope_for, verify_token
from newsletter.articles import store
from newsletter.config import get_settings
from newsletter.consent import Change, KeptUnsubscribed
from newsletter.delivery import announcements, progress
from newsletter.member_export import export_members
from newsletter.members import (
    MemberError,
    find_member,
    iso_time,
    normalise_email,
    upsert_member,
)
from newsletter.models import (
    ApiToken,
    Article,
    ArticleTopic,
    ConsentSource,
    Frequency,
    MemberStatus,
)
from newsletter.topics import topics_by_slug
from newsletter.web.deps import Id, db_session

NO_NUL = r"^[^\x00]*$"

bearer = HTTPBearer(
    auto_error=False,
    description="An API token, created by an admin under Admin → API tokens.",
)


def _unicode(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _text(max_length: int, min_length: int = 0) -> Any:
    return Field(min_length=min_length, max_length=max_length, pattern=NO_NUL)


# Text the database will store: bounded, no NUL characters, valid Unicode.
ArticleText = Annotated[str, _text(5_000_000, 1), AfterValidator(_unicode)]
FileName = Annotated[str, _text(300), AfterValidator(_unicode)]
Source = Annotated[str, _text(1000), AfterValidator(_unicode)]
Email = Annotated[str, _text(320, 3), AfterValidator(_unicode)]
Name = Annotated[str, _text(200), AfterValidator(_unicode)]
Role = Annotated[str, _text(100), AfterValidator(_unicode)]
Subject = Annotated[str, _text(500, 1), AfterValidator(_unicode)]
Markdown = Annotated[str, _text(200_000, 1), AfterValidator(_unicode)]
Slug = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9-]*$")]
ConsentText = Annotated[str, _text(300), AfterValidator(_unicode)]


def api_client(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Security(bearer),
    session: Session = Depends(db_session),
) -> ApiToken:
    token = verify_token(session, credentials.credentials) if credentials else None
    if token is None:
        raise unauthorised()
    route = request.scope.get("route")
    needed = scope_for(getattr(route, "path", request.url.path), request.method)
    if not allows(token, needed):
        raise HTTPException(403, f"This token may not do that (it needs the {needed} scope).")
    return token


def unauthorised() -> HTTPException:
    return HTTPException(
        401, "A valid API token is required.", headers={"WWW-Authenticate": "Bearer"}
    )


def _actor(token: ApiToken) -> str:
    return f"token:{token.name}"


router = APIRouter(prefix="/api/v1", dependencies=[Depends(api_client)])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid API token"},
    403: {"description": "The token lacks the scope this needs"},
    404: {"description": "Not found"},
    422: {"description": "The request is not valid; `detail` says why"},
}


def _links(status: int, parameter: str, *operations: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI links: the id (or email) in this answer is what those operations take."""
    field = "email" if parameter == "email" else "id"
    links = {
        operation: {
            "operationId": operation,
            "parameters": {parameter: f"$response.body#/{field}"},
        }
        for operation in operations
    }
    return {status: {"description": "Created" if status == 201 else "OK", "links": links}}


# --- articles ------------------------------------------------------------------------------


class ArticleIn(BaseModel):
    text: ArticleText = Field(
        description="The article: a saved web page, HTML, Markdown or plain text."
    )
    filename: FileName = Field("", description="Its file name, a hint to its format.")
    source: Source = Field("", description="Where it came from, e.g. its web address.")
    topics: list[Slug] | None = Field(
        None, max_length=20, description="Topic slugs to use instead of the suggested ones."
    )
    breaking: bool = Field(False, description="Send an alert to every subscriber of its topics.")
    publish: bool = Field(False, description="Publish at once (sends the alert).")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "text": "# NPQ applications open\n\nApplications for the NPQSL close on "
                    "15 January 2027.",
                    "filename": "npq.md",
                    "source": "https://news.example.org/npq",
                    "topics": ["npq"],
                    "publish": False,
                }
            ]
        }
    )


class TopicScore(BaseModel):
    topic: str
    score: float
    assigned: bool
    manual: bool
    evidence: list[Any]


class ArticleOut(BaseModel):
    id: int
    title: str
    status: str
    priority: str
    suggested_priority: str
    priority_reason: str
    published_at: str | None
    topics: list[str]
    topic_scores: list[TopicScore]
    url: str
    created: bool | None = None


def _article_out(session: Session, article_id: int, created: bool | None = None) -> ArticleOut:
    article = session.scalar(
        select(Article)
        .where(Article.id == article_id)
        .options(
            selectinload(Article.topics).selectinload(ArticleTopic.topic),
            selectinload(Article.deadlines),
        )
    )
    if article is None:
        raise HTTPException(404, f"There is no article {article_id}.")
    full = store.describe_full(article)
    return ArticleOut(
        **{key: full[key] for key in ArticleOut.model_fields if key in full},
        url=f"{get_settings().BASE_URL}/articles/{article.id}",
        created=created,
    )


@router.post(
    "/articles",
    response_model=ArticleOut,
    status_code=201,
    operation_id="create_article",
    responses=ERRORS
    | _links(201, "article_id", "get_article", "publish_article", "withdraw_article"),
)
def create_article(
    body: ArticleIn,
    response: Response,
    token: ApiToken = Depends(api_client),
    session: Session = Depends(db_session),
) -> ArticleOut:
    """Import an article, optionally publishing it. The same content again is the same
    article: the answer is then 200 with `created` false."""
    try:
        outcome = store.import_article(
            session,
            body.text,
            filename=body.filename,
            source=body.source,
            topics=body.topics,
            breaking=body.breaking,
            publish=body.publish,
            actor=_actor(token),
        )
    except store.ArticleError as exc:
        raise HTTPException(422, str(exc)) from None
    article_id = outcome.article.id
    session.commit()
    if not outcome.created:
        response.status_code = 200
    return _article_out(session, article_id, outcome.created)


@router.get(
    "/articles/{article_id}",
    response_model=ArticleOut,
    operation_id="get_article",
    responses=ERRORS,
)
def get_article(article_id: Id, session: Session = Depends(db_session)) -> ArticleOut:
    return _article_out(session, article_id)


@router.post(
    "/articles/{article_id}/publish",
    response_model=ArticleOut,
    operation_id="publish_article",
    responses=ERRORS,
)
def publish_article(
    article_id: Id,
    token: ApiToken = Depends(api_client),
    session: Session = Depends(db_session),
) -> ArticleOut:
    """Publish a draft (or withdrawn) article; its alert goes to the subscribers."""
    _article_out(session, article_id)  # 404 if missing
    store.publish_article(session, article_id, actor=_actor(token))
    session.commit()
    return _article_out(session, article_id)


@router.post(
    "/articles/{article_id}/withdraw",
    response_model=ArticleOut,
    operation_id="withdraw_article",
    responses=ERRORS,
)
def withdraw_article(
    article_id: Id,
    token: ApiToken = Depends(api_client),
    session: Session = Depends(db_session),
) -> ArticleOut:
    """Withdraw an article; its sends that have not started are cancelled."""
    _article_out(session, article_id)
    store.withdraw_article(session, article_id, actor=_actor(token))
    session.commit()
    return _article_out(session, article_id)


# --- members -------------------------------------------------------------------------------


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
    | _links(200, "email", "get_member", "get_member_history")
    | _links(201, "email", "get_member", "get_member_history"),
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
            Change(ConsentSource.API, _actor(token), reason=(body.consent or "").strip()),
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
    audit.record(session, _actor(token), "member.export", "member")
    text = export_members(session)
    session.commit()
    headers = {"Content-Disposition": 'attachment; filename="members.csv"'}
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


# --- sends ---------------------------------------------------------------------------------


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
    responses=ERRORS | _links(201, "send_id", "get_send", "cancel_send"),
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
            actor=_actor(token),
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
        announcements.cancel_send(session, send_id, _actor(token))
    except announcements.SendError as exc:
        raise HTTPException(422, str(exc)) from None
    session.commit()
    return _send_out(session, send_id)

"""Staff pages for sends: compose an announcement, preview it for a member, send a test to
yourself, schedule it for a London date and time, cancel it before it starts, follow progress.
Scheduling, cancelling and test sends are the delivery core's (delivery.announcements)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from newsletter.audience import Audience
from newsletter.delivery import announcements, progress
from newsletter.delivery.backends.base import BackendUnavailable, Outcome
from newsletter.delivery.email_cache import render_send
from newsletter.delivery.one_off import send_one_off
from newsletter.inbound import reports
from newsletter.members import find_member, roles_in_use
from newsletter.models import (
    DeliveryStatus,
    Send,
    SendKind,
    SendStatus,
    StaffRole,
    StaffUser,
    utcnow,
)
from newsletter.rendering import (
    OutgoingMessage,
    Recipient,
    RecipientError,
    prepare_announcement,
)
from newsletter.rendering.previews import decoded_part
from newsletter.send_lookup import members_reached
from newsletter.topics import list_topics, topic_names
from newsletter.web import forms
from newsletter.web.auth import STAFF_ONLY, actor, read_form, signed_in
from newsletter.web.console import acknowledgements
from newsletter.web.deps import Id, db_session
from newsletter.web.templating import render

router = APIRouter(prefix="/staff/sends", include_in_schema=False, dependencies=STAFF_ONLY)

# Fictional, with links that open nothing.
SAMPLE_PREVIEW = Recipient(0, "sam.sample@example.com", "Sam Sample", 0)
# The preview is an email, not a page of ours: its own styles, never a script.
PER_MEMBER = (SendKind.DIGEST, SendKind.MEMBER_MAIL)  # no one copy to preview or test
PREVIEW_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
NOTICES = {
    "scheduled": "Scheduled. It starts by itself at the time shown; you can cancel it until then.",
    "cancelled": "Cancelled. Nothing will be sent.",
}


def _zone(request: Request) -> ZoneInfo:
    return ZoneInfo(request.app.state.settings.TIMEZONE)


@router.get("", response_class=HTMLResponse)
def sends(request: Request, session: Session = Depends(db_session)) -> Response:
    context = {"sends": progress.list_sends(session, limit=100)}
    return render(request, "staff/sends.html", context)


# --- compose -------------------------------------------------------------------------------


@router.get("/new", response_class=HTMLResponse)
def compose(request: Request, session: Session = Depends(db_session)) -> Response:
    start = (datetime.now(_zone(request)) + timedelta(hours=1)).replace(minute=0)
    settings = request.app.state.settings
    draft = Draft("", "", [], [], start.date().isoformat(), start.strftime("%H:%M"), "")
    draft.chase_days, draft.chase_times = (
        str(settings.ACK_CHASE_DAYS),
        str(settings.ACK_CHASE_TIMES),
    )
    return _compose_page(request, session, draft, {})


def _compose_page(
    request: Request,
    session: Session,
    draft: Draft,
    errors: forms.Errors,
    notice: str = "",
    status_code: int = 200,
) -> Response:
    context = {
        "topics": list_topics(session),
        "roles": roles_in_use(session),
        "values": asdict(draft),
        "errors": errors,
        "notice": notice,
        "timezone": request.app.state.settings.TIMEZONE,
    }
    return render(request, "staff/send_new.html", context, status_code)


@dataclass
class Draft:
    """An announcement being composed, as the form holds it."""

    subject: str
    body: str
    topics: list[str]
    roles: list[str]
    date: str
    time: str
    preview_for: str
    respect_window: bool = False
    acknowledge: bool = False  # an urgent notice, chased every chase_days, chase_times times
    chase_days: str = ""
    chase_times: str = ""

    @classmethod
    def from_form(cls, form: FormData) -> Draft:
        return cls(
            subject=forms.text(form, "subject", 500),
            body=forms.text(form, "body", 200_000),
            topics=forms.texts(form, "topic", 50),
            roles=forms.texts(form, "role", 100),
            date=forms.text(form, "date", 20),
            time=forms.text(form, "time", 20),
            preview_for=forms.text(form, "preview_for", 320),
            respect_window=forms.text(form, "respect_window", 10) == "yes",
            acknowledge=forms.text(form, "acknowledge", 10) == "yes",
            chase_days=forms.text(form, "chase_days", 20),
            chase_times=forms.text(form, "chase_times", 20),
        )

    def content_problems(self) -> forms.Errors:
        errors: forms.Errors = {}
        if not self.subject:
            errors["subject"] = "Enter a subject."
        if not self.body:
            errors["body"] = "Write the message."
        return errors


@router.post("", response_class=HTMLResponse)
def schedule(
    request: Request, session: Session = Depends(db_session), form: FormData = Depends(read_form)
) -> Response:
    draft = Draft.from_form(form)
    errors = draft.content_problems()
    if not draft.topics:
        errors["topics"] = "Choose at least one topic."
    timezone = request.app.state.settings.TIMEZONE
    at = forms.london_datetime(form, "date", "time", timezone, errors)
    if at is not None and at <= utcnow():
        errors["time"] = "That time has passed. Choose a time still to come."
    chase = acknowledgements.chase_rule_of(draft, errors)
    if errors or at is None:
        return _compose_page(request, session, draft, errors, "", 400)
    try:
        send = announcements.schedule_announcement(
            session,
            subject=draft.subject,
            body_markdown=draft.body,
            topic_slugs=draft.topics,
            roles=draft.roles,
            at=at,
            actor=actor(signed_in(request)),
            respect_window=draft.respect_window,
            acknowledge=chase,
        )
    except announcements.SendError as exc:
        return _compose_page(request, session, draft, {"form": str(exc)}, "", 400)
    session.commit()
    return RedirectResponse(f"/staff/sends/{send.id}?notice=scheduled", 303)


@router.post("/preview", response_class=HTMLResponse)
def preview(
    request: Request, session: Session = Depends(db_session), form: FormData = Depends(read_form)
) -> Response:
    """The composed email as the chosen member would see it, shown in the compose page's frame."""
    draft = Draft.from_form(form)
    if draft.content_problems():
        return _preview_response(_note("Write a subject and a message to see a preview."))
    prepared = prepare_announcement(draft.subject, draft.body, send_id=0)
    recipient = _preview_recipient(session, draft.preview_for, signed_in(request))
    return _preview_response(decoded_part(prepared.personalise(recipient), "html"))


def _preview_recipient(session: Session, email: str, me: StaffUser) -> Recipient:
    """The member's name and address, but links that open nothing: a preview is not a key.
    A preview shows the member's name, so only an admin may preview as any member; others as
    themselves or as the fictional sample member."""
    email = email.strip().lower()
    if not email or (me.role is not StaffRole.ADMIN and email != me.email.lower()):
        return SAMPLE_PREVIEW
    member = find_member(session, email)
    if member is None:
        return SAMPLE_PREVIEW
    return Recipient(0, member.email, member.name, 0)


def _note(text: str) -> str:
    return f'<p style="font-family: sans-serif; color: #5b6776; padding: 1rem">{text}</p>'


def _preview_response(html: str) -> Response:
    return HTMLResponse(html, headers={"Content-Security-Policy": PREVIEW_POLICY})


@router.post("/test", response_class=HTMLResponse)
def send_test_of_draft(
    request: Request, session: Session = Depends(db_session), form: FormData = Depends(read_form)
) -> Response:
    """A copy of the composed email to the signed-in staff member, marked [TEST]."""
    draft = Draft.from_form(form)
    errors = draft.content_problems()
    if errors:
        return _compose_page(request, session, draft, errors, "", 400)
    me = signed_in(request)
    prepared = prepare_announcement(draft.subject, draft.body, send_id=0)
    message = prepared.personalise(Recipient(0, me.email, "", 0), test=True)
    notice = _transmit_test(request, message, me.email)
    return _compose_page(request, session, draft, {}, notice)


def _transmit_test(request: Request, message: OutgoingMessage, to: str) -> str:
    try:
        [result] = send_one_off([message], request.app.state.settings)
    except BackendUnavailable as exc:
        return f"The test could not be sent: the mail server is unavailable ({exc})."
    if result.outcome != Outcome.SENT:
        return f"The test could not be sent: {result.detail}"
    return f"A test copy is on its way to {to}."


# --- one send ------------------------------------------------------------------------------


def _send(session: Session, send_id: int) -> Send:
    found = session.get(Send, send_id)
    if found is None:
        raise HTTPException(404, "There is no such send.")
    return found


@router.get("/{send_id}", response_class=HTMLResponse)
def send_page(
    send_id: Id, request: Request, notice: str = "", session: Session = Depends(db_session)
) -> Response:
    return _send_page(request, session, _send(session, send_id), NOTICES.get(notice, ""))


def _send_page(
    request: Request, session: Session, send: Send, notice: str, status_code: int = 200
) -> Response:
    """The send's page; a status code other than 200 shows the notice as a problem."""
    audience = Audience.from_json(send.audience or {})
    names = topic_names(session)
    summary = progress.describe_send(session, send.id)
    sent = summary.counts[DeliveryStatus.SENT.value] if summary else 0
    context = {
        "send": send,
        "sends": [summary],
        "topic_names": [names.get(t, "?") for t in audience.topic_ids or ()],
        "roles": list(audience.roles),
        "frequencies": [f.value for f in audience.frequencies or ()],
        "cancellable": send.status in (SendStatus.SCHEDULED, SendStatus.MISSED),
        "previewable": send.kind not in PER_MEMBER,
        "notice": notice,
        "notice_class": "ok" if status_code == 200 else "error",
        "audience_size": _audience_size(session, send),
        "held_until": progress.held_until(send),
        "rates": reports.send_rates(session, send.id, sent),
        **acknowledgements.send_page_context(session, send.id),
    }
    return render(request, "staff/send.html", context, status_code)


def _audience_size(session: Session, send: Send) -> int | None:
    """How many members it would reach now, while it is still only scheduled."""
    if send.status != SendStatus.SCHEDULED:
        return None
    audience = Audience.from_json(send.audience or {})
    return members_reached(session, audience)


@router.post("/{send_id}/cancel", response_class=HTMLResponse)
def cancel(send_id: Id, request: Request, session: Session = Depends(db_session)) -> Response:
    send = _send(session, send_id)
    try:
        announcements.cancel_send(session, send_id, actor(signed_in(request)))
    except announcements.SendError as exc:
        session.rollback()
        return _send_page(request, session, send, f"Not cancelled: {exc}.", 409)
    session.commit()
    return RedirectResponse(f"/staff/sends/{send_id}?notice=cancelled", 303)


@router.post("/{send_id}/test", response_class=HTMLResponse)
def send_test(send_id: Id, request: Request, session: Session = Depends(db_session)) -> Response:
    send = _send(session, send_id)
    me = signed_in(request)
    try:
        result = announcements.send_test(session, send_id, me.email, request.app.state.settings)
    except (announcements.SendError, LookupError, RecipientError) as exc:
        return _send_page(request, session, send, f"The test could not be sent: {exc}.", 400)
    except BackendUnavailable as exc:
        notice = f"The test could not be sent: the mail server is unavailable ({exc})."
        return _send_page(request, session, send, notice, 503)
    if result.outcome != Outcome.SENT:
        return _send_page(request, session, send, f"The test was not sent: {result.detail}", 502)
    return _send_page(request, session, send, f"A test copy is on its way to {me.email}.")


@router.get("/{send_id}/preview", response_class=HTMLResponse)
def send_preview(send_id: Id, request: Request, session: Session = Depends(db_session)) -> Response:
    send = _send(session, send_id)
    if send.kind in PER_MEMBER:
        return _preview_response(_note("Each member's copy differs; there is no preview."))
    try:
        prepared = render_send(session, send, None, request.app.state.settings)
    except LookupError as exc:
        return _preview_response(_note(f"No preview: {exc}."))
    return _preview_response(decoded_part(prepared.personalise(SAMPLE_PREVIEW), "html"))

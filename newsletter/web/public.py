"""Pages for members: subscribe, confirm, manage preferences, unsubscribe, and the archive."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from newsletter import (
    address_change,
    dispatch,
    member_requests,
    preferences,
    public_requests,
    role_defaults,
    school_calendar,
)
from newsletter.archive import ArchiveFilter, published_article, published_articles, topics_by_slug
from newsletter.db import session_scope
from newsletter.links import calendar_url, manage_url
from newsletter.members import MemberError
from newsletter.models import (
    Frequency,
    Member,
    MemberStatus,
)
from newsletter.term_dates import TermError, region_label
from newsletter.topics import SLUG_PATTERN as SLUG
from newsletter.topics import find_topic, list_topics
from newsletter.web import forms
from newsletter.web.auth import read_form
from newsletter.web.deps import Id, client_address, db_session
from newsletter.web.link_buttons import button_pressed
from newsletter.web.templating import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
MANAGE_NOTICES = {
    "saved": "Your choices are saved.",
    "paused": "Emails are paused. Nothing will be sent to you until you resume.",
    "resumed": "Emails are back on.",
    "unsubscribed": "You are unsubscribed from everything. You will get no more emails from us.",
    "address": "We have sent a link to your new address. Open it within 7 days to finish the "
    "change; until then, emails keep coming to this address.",
    "when": "Saved: we will email you on the days you chose.",
    "calendar": "Your calendar link is new. The old one no longer works: subscribe with this one.",
}


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: Session = Depends(db_session)) -> Response:
    return render(
        request,
        "public/home.html",
        {
            "topics": list_topics(session),
            "articles": published_articles(session, ArchiveFilter(), 0, 5)[0],
        },
    )


# --- subscribe and confirm -----------------------------------------------------------------


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form(
    request: Request,
    role: str = Query(default="", max_length=100),
    session: Session = Depends(db_session),
) -> Response:
    """The form; ?role=SENCO ticks that role's default topics (the page's script does it as
    a role is typed)."""
    values = {"role": forms.clean(role, 100)} if role.strip() else {}
    values |= forms.frequency_values(role_defaults.defaults_for(session, role))
    return _subscribe_page(request, session, values, {})


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe(
    request: Request,
    background: BackgroundTasks,
    session: Session = Depends(db_session),
    form: FormData = Depends(read_form),
) -> Response:
    topics = list_topics(session)
    errors: forms.Errors = {}
    values = {
        "email": forms.text(form, "email", 320),
        "name": forms.text(form, "name", 200),
        "role": forms.text(form, "role", 100),
    }
    chosen = forms.topic_frequencies(form, topics, errors)
    values.update(forms.frequency_values(chosen))
    if not values["email"]:
        errors["email"] = "Enter your email address."
    if not chosen and not errors and not role_defaults.defaults_for(session, values["role"]):
        errors["topics"] = "Choose at least one topic and how often you want to hear about it."
    if errors:
        return _subscribe_page(request, session, values, errors, 400)
    try:
        job = public_requests.take_subscribe(
            session,
            email=values["email"],
            name=values["name"],
            role=values["role"],
            topics=chosen,
            client=client_address(request),
        )
    except MemberError as exc:
        errors["email"] = _email_problem(exc)
        return _subscribe_page(request, session, values, errors, 400)
    except preferences.TooManyRequests:
        session.commit()
        return _too_many(request)
    session.commit()
    # The same for every address; who it is, and any email, is the worker's business.
    background.add_task(dispatch.job_queued, job.id)
    return RedirectResponse("/subscribe/check-your-email", status_code=303)


@router.get("/subscribe/check-your-email", response_class=HTMLResponse)
def subscribe_sent(request: Request) -> Response:
    return render(request, "public/check_email.html", {"purpose": "subscribe"})


def _subscribe_page(
    request: Request,
    session: Session,
    values: dict[str, str],
    errors: forms.Errors,
    status_code: int = 200,
) -> Response:
    context = {"topics": list_topics(session), "values": values, "errors": errors}
    context["role_defaults"] = {
        role.name: forms.frequency_values(role_defaults.defaults_of(role))
        for role in role_defaults.list_roles(session)
    }
    return render(request, "public/subscribe.html", context, status_code)


def _email_problem(exc: MemberError) -> str:
    return (
        "Enter a valid email address, like name@school.org.uk." if "email" in str(exc) else str(exc)
    )


def _too_many(request: Request) -> Response:
    return render(request, "public/too_many.html", status_code=429, headers={"Retry-After": "3600"})


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(token: str, request: Request, session: Session = Depends(db_session)) -> Response:
    """Only shows a button: mail scanners fetch every link in an email."""
    member = preferences.member_to_confirm(session, token)
    context = {"member": member, "chosen": preferences.chosen_topics(session, member)}
    return render(request, "public/confirm.html", context)


@router.post("/confirm/{token}", response_class=HTMLResponse)
async def confirm(token: str, request: Request, session: Session = Depends(db_session)) -> Response:
    """The button's POST (see link_buttons.button_pressed)."""
    return await button_pressed(request, token, session, confirm_page, _confirmed)


def _confirmed(token: str, request: Request, session: Session) -> Response:
    member = preferences.confirm(session, token)
    session.commit()  # the welcome goes after the response (deps.db_session)
    context = {
        "chosen": preferences.chosen_topics(session, member),
        "manage_url": manage_url(member.id, member.token_version),
    }
    return render(request, "public/confirmed.html", context)


# --- manage --------------------------------------------------------------------------------


@router.get("/manage", response_class=HTMLResponse)
def manage_request_form(request: Request) -> Response:
    return render(request, "public/manage_request.html", {"values": {}, "errors": {}})


@router.post("/manage", response_class=HTMLResponse)
def manage_request(
    request: Request,
    background: BackgroundTasks,
    session: Session = Depends(db_session),
    form: FormData = Depends(read_form),
) -> Response:
    values = {"email": forms.text(form, "email", 320)}
    try:
        job = public_requests.take_manage_link(session, values["email"], client_address(request))
    except MemberError as exc:
        context = {"values": values, "errors": {"email": _email_problem(exc)}}
        return render(request, "public/manage_request.html", context, 400)
    except preferences.TooManyRequests:
        session.commit()
        return _too_many(request)
    session.commit()
    background.add_task(dispatch.job_queued, job.id)
    return RedirectResponse("/manage/check-your-email", status_code=303)


@router.get("/manage/check-your-email", response_class=HTMLResponse)
def manage_request_sent(request: Request) -> Response:
    return render(request, "public/check_email.html", {"purpose": "manage"})


@router.get("/manage/{token}", response_class=HTMLResponse)
def manage(
    token: str, request: Request, done: str = "", session: Session = Depends(db_session)
) -> Response:
    member = preferences.member_from_manage_token(session, token)
    values = forms.frequency_values(preferences.subscription_map(session, member))
    return _manage_page(request, session, member, values, {}, MANAGE_NOTICES.get(done, ""))


@router.post("/manage/{token}", response_class=HTMLResponse)
async def manage_update(
    token: str, request: Request, session: Session = Depends(db_session)
) -> Response:
    form = await read_form(request)
    action = forms.text(form, "action", 20)
    if action == "change-email":
        new_email = forms.text(form, "new_email", 320)
        return await run_in_threadpool(_change_email, request, session, token, new_email)
    if action == "new-calendar-link":
        return await run_in_threadpool(_new_calendar_link, session, token)
    if action == "when":
        return await run_in_threadpool(_save_when, request, session, token, form)
    # The session above is left unused: a save goes through member_requests, which waits
    # for a busy database only briefly and keeps the request if it stays busy.
    return await run_in_threadpool(_save_choices, request, token, form, action)


def _save_choices(request: Request, token: str, form: FormData, action: str) -> Response:
    """Pause, resume, leave everything, or save topics; with a busy database, 202 and kept."""
    action = action if action in member_requests.MANAGE_ACTIONS else "save"
    chosen: dict[str, Frequency] = {}
    if action == "save":
        errors: forms.Errors = {}
        try:
            with session_scope(wait_seconds=member_requests.QUICK_WAIT_SECONDS) as session:
                member = preferences.member_from_manage_token(session, token)
                chosen = forms.topic_frequencies(form, list_topics(session), errors)
                if errors:
                    values = forms.frequency_values(chosen)
                    return _manage_page(request, session, member, values, errors, "", 400)
        except member_requests.DATABASE_BUSY:  # not even readable: checked when applied
            chosen = forms.topic_frequencies(form, forms.topics_named_in(form), errors)
            if errors:
                raise HTTPException(
                    400, "Some of your choices were not valid. Go back and choose again."
                ) from None
    try:
        done = member_requests.manage(token, action, chosen)
    except member_requests.Dropped as exc:
        raise HTTPException(400, f"Your choices were not saved: {exc}.") from None
    if done.kept:
        return _kept(request)
    finished = {"pause": "paused", "resume": "resumed", "unsubscribe-all": "unsubscribed"}
    outcome = finished.get(action, "saved" if chosen else "unsubscribed")
    return RedirectResponse(f"/manage/{token}?done={outcome}", status_code=303)


def _new_calendar_link(session: Session, token: str) -> Response:
    member = preferences.member_from_manage_token(session, token)
    preferences.new_calendar_link(session, member)
    session.commit()
    return RedirectResponse(f"/manage/{token}?done=calendar", status_code=303)


def _save_when(request: Request, session: Session, token: str, form: FormData) -> Response:
    """No email at weekends, pause daily digests in school holidays, and whose holidays."""
    member = preferences.member_from_manage_token(session, token)
    choices = school_calendar.WhenChoices(
        no_weekend_email=forms.text(form, "no_weekend_email", 10) == "yes",
        pause_in_holidays=forms.text(form, "pause_in_holidays", 10) == "yes",
        region=forms.text(form, "school_region", 60),
    )
    try:
        school_calendar.set_when_choices(session, member, choices)
    except TermError:
        session.rollback()
        values = forms.frequency_values(preferences.subscription_map(session, member))
        errors = {"school_region": "Choose one of the regions listed."}
        return _manage_page(request, session, member, values, errors, "", 400)
    session.commit()
    return RedirectResponse(f"/manage/{token}?done=when#when", status_code=303)


def _change_email(request: Request, session: Session, token: str, new_email: str) -> Response:
    """Send the new address its link; the page says the same whoever's address it is."""
    member = preferences.member_from_manage_token(session, token)
    try:
        address_change.request_change(session, member, new_email, client_address(request))
    except MemberError as exc:
        session.rollback()
        values = forms.frequency_values(preferences.subscription_map(session, member))
        errors = {"new_email": _email_problem(exc)}
        return _manage_page(
            request, session, member, values | {"new_email": new_email}, errors, "", 400
        )
    except preferences.TooManyRequests:
        session.commit()
        return _too_many(request)
    session.commit()  # the email goes after the response (deps.db_session)
    return RedirectResponse(f"/manage/{token}?done=address", status_code=303)


def _manage_page(
    request: Request,
    session: Session,
    member: Member,
    values: dict[str, str],
    errors: forms.Errors,
    notice: str,
    status_code: int = 200,
) -> Response:
    context = {
        "member": member,
        "topics": list_topics(session),
        "values": values,
        "errors": errors,
        "notice": notice,
        "unsubscribed": member.status == MemberStatus.UNSUBSCRIBED,
        "calendar_url": calendar_url(member.id, member.token_version, member.calendar_version),
        "regions": school_calendar.regions(session),
        "region_label": region_label,
    }
    return render(request, "public/manage.html", context, status_code)


# --- change of address ---------------------------------------------------------------------


@router.get("/confirm/address/{token}", response_class=HTMLResponse)
def address_page(token: str, request: Request, session: Session = Depends(db_session)) -> Response:
    """Only shows a button, like the confirm link."""
    _, new_email = address_change.member_for_address_link(session, token)
    return render(request, "public/confirm_address.html", {"new_email": new_email})


@router.post("/confirm/address/{token}", response_class=HTMLResponse)
async def address_confirm(
    token: str, request: Request, session: Session = Depends(db_session)
) -> Response:
    """The button's POST (see link_buttons.button_pressed)."""
    return await button_pressed(request, token, session, address_page, _address_changed)


def _address_changed(token: str, request: Request, session: Session) -> Response:
    try:
        changed = address_change.confirm_change(session, token)
    except address_change.AddressUnavailable as exc:
        context = {"title": "This address cannot be used", "message": str(exc), "status_code": 409}
        return render(request, "error.html", context, 409)
    session.commit()  # the old address is told after the response (deps.db_session)
    context = {
        "new_email": changed.new,
        "manage_url": manage_url(changed.member.id, changed.member.token_version),
    }
    return render(request, "public/address_changed.html", context)


# --- unsubscribe (RFC 8058) ----------------------------------------------------------------


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(
    token: str, request: Request, session: Session = Depends(db_session)
) -> Response:
    """Only shows a button: link scanners fetch every URL in an email."""
    member, send = preferences.member_and_send_from_unsubscribe_token(session, token)
    names = preferences.send_topic_names(session, send, member)
    return render(request, "public/unsubscribe.html", {"member": member, "topics": names})


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(token: str, request: Request) -> Response:
    """The one-click POST: no cookie, no CSRF token, no redirect; repeating it is harmless.
    A busy database gets a 202: the request is kept and applied once it is back."""
    done = member_requests.unsubscribe(token)
    if done.unsubscribed is None:
        return _kept(request)
    member = done.unsubscribed.member
    context = {
        "member": member,
        "topics": done.unsubscribed.topics,
        "remaining": done.unsubscribed.remaining,
        "manage_url": manage_url(member.id, member.token_version),
    }
    return render(request, "public/unsubscribed.html", context)


def _kept(request: Request) -> Response:
    return render(request, "public/request_kept.html", status_code=202)


# --- the archive ---------------------------------------------------------------------------


@router.get("/articles", response_class=HTMLResponse)
def articles(
    request: Request,
    page: int = 1,
    topic: list[str] = Query(default=[], max_length=50),
    since: date | None = None,
    until: date | None = None,
    session: Session = Depends(db_session),
) -> Response:
    """Every published article; a digest's "and N more" link filters by topics and dates."""
    page = max(1, min(page, 10_000))
    chosen = topics_by_slug(session, [slug for slug in topic if SLUG.match(slug)])
    wanted = ArchiveFilter([t.id for t in chosen] if topic else None, since, until)
    items, total = published_articles(session, wanted, (page - 1) * PAGE_SIZE, PAGE_SIZE)
    context = {"articles": items, "page": page, "pages": _pages(total), "topic": None}
    context |= {"chosen": chosen, "since": since, "until": until, "params": _params(request)}
    context["topics"] = list_topics(session)
    return render(request, "public/articles.html", context)


def _params(request: Request) -> list[tuple[str, str]]:
    """The filters of this page, kept when paging."""
    return [(k, v) for k, v in request.query_params.multi_items() if k != "page"]


@router.get("/topics/{slug}", response_class=HTMLResponse)
def topic(
    slug: str, request: Request, page: int = 1, session: Session = Depends(db_session)
) -> Response:
    found = find_topic(session, slug) if SLUG.match(slug) else None
    if found is None:
        raise HTTPException(404, "There is no such topic.")
    page = max(1, min(page, 10_000))
    wanted = ArchiveFilter([found.id])
    items, total = published_articles(session, wanted, (page - 1) * PAGE_SIZE, PAGE_SIZE)
    context = {"articles": items, "page": page, "pages": _pages(total), "topic": found}
    context |= {"chosen": [], "since": None, "until": None, "params": []}
    context["topics"] = list_topics(session)
    return render(request, "public/articles.html", context)


@router.get("/articles/{article_id}", response_class=HTMLResponse)
def article(article_id: Id, request: Request, session: Session = Depends(db_session)) -> Response:
    found = published_article(session, article_id)
    if found is None:
        raise HTTPException(404, "There is no such article, or it has been withdrawn.")
    topics = [t.topic for t in found.topics if t.assigned]
    return render(request, "public/article.html", {"article": found, "topics": topics})


def _pages(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))

"""Pages for members: subscribe, confirm, manage preferences, unsubscribe, and the archive."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from starlette.datastructures import FormData

from newsletter import dispatch, member_requests, preferences
from newsletter.archive import ArchiveFilter, published_articles, topics_by_slug
from newsletter.links import manage_url
from newsletter.members import MemberError
from newsletter.models import Article, ArticleStatus, ArticleTopic, Member, MemberStatus, Topic
from newsletter.topics import SLUG_PATTERN as SLUG
from newsletter.topics import list_topics
from newsletter.web import forms
from newsletter.web.auth import read_form
from newsletter.web.deps import Id, client_address, db_session
from newsletter.web.templating import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
MANAGE_NOTICES = {
    "saved": "Your choices are saved.",
    "paused": "Emails are paused. Nothing will be sent to you until you resume.",
    "resumed": "Emails are back on.",
    "unsubscribed": "You are unsubscribed from everything. You will get no more emails from us.",
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
def subscribe_form(request: Request, session: Session = Depends(db_session)) -> Response:
    return _subscribe_page(request, session, {}, {})


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
    if not chosen and not errors:
        errors["topics"] = "Choose at least one topic and how often you want to hear about it."
    if errors:
        return _subscribe_page(request, session, values, errors, 400)
    try:
        job = member_requests.take_subscribe(
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
    return render(request, "public/subscribe.html", context, status_code)


def _email_problem(exc: MemberError) -> str:
    return (
        "Enter a valid email address, like name@school.org.uk." if "email" in str(exc) else str(exc)
    )


def _too_many(request: Request) -> Response:
    return render(request, "public/too_many.html", status_code=429, headers={"Retry-After": "3600"})


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm(token: str, request: Request, session: Session = Depends(db_session)) -> Response:
    member, outcome, messages = preferences.confirm(session, token)
    session.commit()
    preferences.send_messages(messages)
    context = {
        "outcome": outcome.value,
        "member": member,
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
        job = member_requests.take_manage_link(session, values["email"], client_address(request))
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
def manage_update(
    token: str,
    request: Request,
    session: Session = Depends(db_session),
    form: FormData = Depends(read_form),
) -> Response:
    member = preferences.member_from_manage_token(session, token)
    action = forms.text(form, "action", 20)
    if action == "pause":
        preferences.set_paused(session, member, True)
        done = "paused"
    elif action == "resume":
        preferences.set_paused(session, member, False)
        done = "resumed"
    elif action == "unsubscribe-all":
        preferences.unsubscribe_all(session, member)
        done = "unsubscribed"
    else:
        errors: forms.Errors = {}
        chosen = forms.topic_frequencies(form, list_topics(session), errors)
        if errors:
            values = forms.frequency_values(chosen)
            return _manage_page(request, session, member, values, errors, "", 400)
        preferences.update_topics(session, member, chosen)
        done = "saved" if chosen else "unsubscribed"
    session.commit()
    return RedirectResponse(f"/manage/{token}?done={done}", status_code=303)


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
    }
    return render(request, "public/manage.html", context, status_code)


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
def unsubscribe(token: str, request: Request, session: Session = Depends(db_session)) -> Response:
    """The one-click POST: no cookie, no CSRF token, no redirect; repeating it is harmless."""
    member, send = preferences.member_and_send_from_unsubscribe_token(session, token)
    result = preferences.unsubscribe_from_send(session, member, send)
    session.commit()
    context = {
        "member": member,
        "topics": result.topics,
        "remaining": result.remaining,
        "manage_url": manage_url(member.id, member.token_version),
    }
    return render(request, "public/unsubscribed.html", context)


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
    found = session.scalar(select(Topic).where(Topic.slug == slug)) if SLUG.match(slug) else None
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
    found = session.scalar(
        select(Article)
        .where(Article.id == article_id, Article.status == ArticleStatus.PUBLISHED)
        .options(selectinload(Article.topics).selectinload(ArticleTopic.topic))
    )
    if found is None:
        raise HTTPException(404, "There is no such article, or it has been withdrawn.")
    topics = [t.topic for t in found.topics if t.assigned]
    return render(request, "public/article.html", {"article": found, "topics": topics})


def _pages(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))

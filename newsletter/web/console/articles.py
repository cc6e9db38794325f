"""Staff pages for articles: upload or paste, review suggested topics and priority, publish
or withdraw. The importing, tagging and publishing are the article store's."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from newsletter import background_jobs
from newsletter.articles import store
from newsletter.articles.files import MAX_BYTES, ArticleFileError, decode
from newsletter.articles.lookup import article_with_details, page_of_articles
from newsletter.models import Article, ArticleStatus, Priority
from newsletter.topics import list_topics
from newsletter.web import forms
from newsletter.web.auth import STAFF_ONLY, actor, read_form, signed_in
from newsletter.web.console.jobs import start_job
from newsletter.web.deps import Id, db_session
from newsletter.web.templating import render

router = APIRouter(prefix="/staff/articles", include_in_schema=False, dependencies=STAFF_ONLY)

PAGE_SIZE = 50
NOTICES = {
    "imported": "Imported. Check the topics and priority, then publish.",
    "again": "This content was imported before: here is that article.",
    "published": "Published. The alert is on its way to subscribers.",
    "withdrawn": "Withdrawn. Sends for it that had not started are cancelled.",
    "topics": "Topics saved.",
    "priority": "Priority saved.",
}


@router.get("", response_class=HTMLResponse)
def articles(
    request: Request, status: str = "", page: int = 1, session: Session = Depends(db_session)
) -> Response:
    wanted = ArticleStatus(status) if status in {s.value for s in ArticleStatus} else None
    found = page_of_articles(session, wanted, page, PAGE_SIZE)
    context = {
        "articles": found.rows,
        "status": status,
        "statuses": [s.value for s in ArticleStatus],
        "page": found.number,
        "pages": found.count,
    }
    return render(request, "staff/articles.html", context)


@router.get("/new", response_class=HTMLResponse)
def new_article(request: Request) -> Response:
    return render(request, "staff/article_new.html", {"values": {}, "errors": {}})


@router.post("/new", response_class=HTMLResponse)
def import_article(
    request: Request,
    background: BackgroundTasks,
    session: Session = Depends(db_session),
    form: FormData = Depends(read_form),
) -> Response:
    values = {
        "text": forms.text(form, "text", MAX_BYTES),
        "source": forms.text(form, "source", 1000),
        "breaking": forms.text(form, "breaking", 10),
        "publish": forms.text(form, "publish", 10),
    }
    errors: forms.Errors = {}
    text, filename = _article_text(form, values, errors)
    if errors:
        return render(request, "staff/article_new.html", {"values": values, "errors": errors}, 400)
    if background_jobs.runs_in_background(text):
        options: dict[str, object] = {"filename": filename, "source": values["source"]}
        options |= {key: values[key] == "yes" for key in ("breaking", "publish")}
        return start_job(
            session, request, background, background_jobs.ARTICLE_IMPORT, text, options
        )
    try:
        outcome = store.import_article(
            session,
            text,
            filename=filename,
            source=values["source"],
            breaking=values["breaking"] == "yes",
            publish=values["publish"] == "yes",
            actor=actor(signed_in(request)),
        )
    except store.ArticleError as exc:
        errors["text"] = f"This could not be read as an article: {exc}."
        return render(request, "staff/article_new.html", {"values": values, "errors": errors}, 400)
    article_id = outcome.article.id
    session.commit()
    notice = "published" if outcome.published else "imported" if outcome.created else "again"
    return RedirectResponse(f"/staff/articles/{article_id}?notice={notice}", 303)


def _article_text(form: FormData, values: dict[str, str], errors: forms.Errors) -> tuple[str, str]:
    """The uploaded file's text (and name) or else the pasted text."""
    upload = forms.upload(form, "file")
    if upload is None:
        if not values["text"]:
            errors["file"] = "Choose a file, or paste the article."
        return values["text"], ""
    try:
        # The request body is capped at 5 MB before this point (BodyLimitMiddleware).
        text, _ = decode(upload.file.read())
    except ArticleFileError as exc:
        errors["file"] = f"This file cannot be imported: {exc}."
        return "", ""
    return text, upload.filename or ""


def _article(session: Session, article_id: int) -> Article:
    found = article_with_details(session, article_id)
    if found is None:
        raise HTTPException(404, "There is no such article.")
    return found


@router.get("/{article_id}", response_class=HTMLResponse)
def article_page(
    article_id: Id, request: Request, notice: str = "", session: Session = Depends(db_session)
) -> Response:
    return _article_page(request, session, _article(session, article_id), {}, notice)


def _article_page(
    request: Request,
    session: Session,
    article: Article,
    errors: forms.Errors,
    notice: str = "",
    status_code: int = 200,
) -> Response:
    scored = {row.topic_id: row for row in article.topics}
    topics = sorted(
        list_topics(session),
        key=lambda t: (scored[t.id].rank if t.id in scored else 1000, t.name),
    )
    context = {
        "article": article,
        "topics": topics,
        "scored": scored,
        "errors": errors,
        "notice": NOTICES.get(notice, ""),
    }
    return render(request, "staff/article.html", context, status_code)


@router.post("/{article_id}/topics", response_class=HTMLResponse)
def save_topics(
    article_id: Id,
    request: Request,
    session: Session = Depends(db_session),
    form: FormData = Depends(read_form),
) -> Response:
    article = _article(session, article_id)
    slugs = forms.texts(form, "topic", 50)
    if not slugs:
        errors = {"topics": "Choose at least one topic: an article without one reaches nobody."}
        return _article_page(request, session, article, errors, "", 400)
    try:
        store.set_topics(session, article_id, slugs, actor=actor(signed_in(request)))
    except store.ArticleError as exc:
        return _article_page(request, session, article, {"topics": str(exc)}, "", 400)
    session.commit()
    return RedirectResponse(f"/staff/articles/{article_id}?notice=topics", 303)


@router.post("/{article_id}/priority", response_class=HTMLResponse)
def save_priority(
    article_id: Id,
    request: Request,
    session: Session = Depends(db_session),
    form: FormData = Depends(read_form),
) -> Response:
    article = _article(session, article_id)
    try:
        choice = Priority(forms.text(form, "priority", 20))
    except ValueError:
        return _article_page(request, session, article, {"priority": "Choose a priority."}, "", 400)
    store.set_priority(session, article_id, choice, actor=actor(signed_in(request)))
    session.commit()
    return RedirectResponse(f"/staff/articles/{article_id}?notice=priority", 303)


@router.post("/{article_id}/publish")
def publish(article_id: Id, request: Request, session: Session = Depends(db_session)) -> Response:
    _article(session, article_id)
    store.publish_article(session, article_id, actor=actor(signed_in(request)))
    session.commit()
    return RedirectResponse(f"/staff/articles/{article_id}?notice=published", 303)


@router.post("/{article_id}/withdraw")
def withdraw(article_id: Id, request: Request, session: Session = Depends(db_session)) -> Response:
    _article(session, article_id)
    store.withdraw_article(session, article_id, actor=actor(signed_in(request)))
    session.commit()
    return RedirectResponse(f"/staff/articles/{article_id}?notice=withdrawn", 303)

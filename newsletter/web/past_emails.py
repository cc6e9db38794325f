"""The public archive of past digests and announcements: a list searchable by words and
filtered by topic and date, and each one as it was sent minus the member's own parts."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from newsletter.rendering.content import markdown_html
from newsletter.sent_archive import EditionFilter, edition, past_editions
from newsletter.topics import list_topics
from newsletter.web import forms
from newsletter.web.deps import Id, db_session
from newsletter.web.templating import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20


@router.get("/archive", response_class=HTMLResponse)
def archive(
    request: Request,
    page: int = 1,
    q: str = Query(default="", max_length=200),
    topic: str = Query(default="", max_length=50),
    since: str = Query(default="", max_length=20),
    until: str = Query(default="", max_length=20),
    session: Session = Depends(db_session),
) -> Response:
    """Past digests and announcements; a bad date is shown beside its field (400)."""
    topics = list_topics(session)
    chosen = next((t for t in topics if t.slug == topic), None)
    errors: forms.Errors = {}
    first, last = _day(since, "since", errors), _day(until, "until", errors)
    if first and last and last < first:
        errors["until"] = "The end date is before the start date."
    if topic and chosen is None:
        errors["topic"] = "There is no such topic."
    values = {"q": forms.clean(q, 200), "topic": topic, "since": since, "until": until}
    context: dict[str, object] = {"topics": topics, "values": values, "errors": errors}
    context |= {"editions": [], "params": []}
    if errors:
        return render(request, "public/archive.html", context | {"page": 1, "pages": 1}, 400)
    page = max(1, min(page, 10_000))
    wanted = EditionFilter(values["q"], [chosen.id] if chosen else None, first, last)
    items, total = past_editions(session, wanted, (page - 1) * PAGE_SIZE, PAGE_SIZE)
    context |= {"editions": items, "page": page, "pages": max(1, -(-total // PAGE_SIZE))}
    context["params"] = [(k, v) for k, v in values.items() if v]  # kept when paging
    return render(request, "public/archive.html", context)


@router.get("/archive/{send_id}", response_class=HTMLResponse)
def past_email(send_id: Id, request: Request, session: Session = Depends(db_session)) -> Response:
    found = edition(session, send_id)
    if found is None:
        raise HTTPException(404, "There is no such digest or announcement in the archive.")
    body = markdown_html(found.body_markdown) if found.body_markdown else ""
    return render(request, "public/edition.html", {"edition": found, "body_html": body})


def _day(raw: str, name: str, errors: forms.Errors) -> date | None:
    if not raw.strip():
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        errors[name] = "Enter a date, like 2026-03-14."
        return None

"""Feeds for readers and calendars: Atom feeds of articles, each topic's public calendar of
deadlines, and each member's private one (a signed link they can revoke)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response
from sqlalchemy.orm import Session

from newsletter import calendars, feeds, preferences
from newsletter.config import get_settings
from newsletter.models import Topic
from newsletter.topics import SLUG_PATTERN, topics_by_slug
from newsletter.web.deps import db_session

router = APIRouter(include_in_schema=False)

ATOM = "application/atom+xml; charset=utf-8"
CALENDAR = "text/calendar; charset=utf-8"
# Calendar apps poll; a feed may be a few minutes old.
CACHE = {"Cache-Control": "max-age=300"}
PRIVATE = {"Cache-Control": "private, max-age=300", "X-Robots-Tag": "noindex"}


@router.get("/feeds/atom.xml")
def all_articles(session: Session = Depends(db_session)) -> Response:
    return Response(feeds.atom_feed(session), media_type=ATOM, headers=CACHE)


@router.get("/feeds/{slug}/atom.xml")
def topic_articles(slug: str, session: Session = Depends(db_session)) -> Response:
    return Response(feeds.atom_feed(session, _topic(session, slug)), media_type=ATOM, headers=CACHE)


@router.get("/feeds/{slug}/deadlines.ics")
def topic_deadlines(slug: str, session: Session = Depends(db_session)) -> Response:
    body = calendars.topic_calendar(session, _topic(session, slug), _today())
    return Response(body, media_type=CALENDAR, headers=CACHE)


@router.get("/calendar/{token}.ics")
def member_deadlines(token: str, session: Session = Depends(db_session)) -> Response:
    """A member's own feed; a revoked or altered link is a 400 page (links.BadLink)."""
    member = preferences.member_from_calendar_token(session, token)
    body = calendars.member_calendar(session, member, _today())
    return Response(body, media_type=CALENDAR, headers=PRIVATE)


def _topic(session: Session, slug: str) -> Topic:
    found = topics_by_slug(session).get(slug) if SLUG_PATTERN.match(slug) else None
    if found is None:
        raise HTTPException(404, "There is no such topic.")
    return found


def _today() -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(get_settings().TIMEZONE)).date()

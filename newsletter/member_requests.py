"""A member's own requests (the one-click unsubscribe, a mailto unsubscribe, a save on the manage
page) are never lost to a busy or absent database.

Each is tried with short waits (QUICK_WAIT_SECONDS a try, for TRY_FOR_SECONDS in all): a SQLite
writer lock held by an import, a PostgreSQL row lock, a restart. If the database still cannot
take it, the request is written to the spool in VAR_DIR (newsletter/spool.py: on disk before the
caller answers, which it does with 202) and applied as soon as the database is back: by the web
app (`keep_applying`, every SPOOL_POLL_SECONDS) and by beat's recovery sweep (`apply_kept`).
While anything is kept, a new request is applied only after it, or kept behind it, so a later
choice is never overwritten by an earlier one. A kept request is recorded in the consent
record at the time the member made it, and is dropped when the member has since made another
choice about the same thing elsewhere (another web server with its own spool). Only requests
whose link is signed by us are kept: a link's signature is checked before anything.
See docs/adr/0013-unsubscribes-kept-while-the-database-is-busy.md.

The interface, for the web pages and (issue 13) the mailto unsubscribe:

    done = member_requests.unsubscribe(token, ConsentSource.MAILTO)   # raises links.BadLink
    done.kept  # True: recorded, applied once the database is back; False: applied now
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from newsletter import links, preferences
from newsletter.config import get_settings
from newsletter.consent import MEMBER_ACTOR, Change
from newsletter.db import session_scope
from newsletter.members import MemberError
from newsletter.models import ConsentEvent, ConsentField, ConsentSource, Frequency, utcnow
from newsletter.spool import Spool

log = logging.getLogger(__name__)

DATABASE_BUSY = (OperationalError, InterfaceError)
# Up to three tries: long enough for the locks of a normal day (a worker holds a member's rows
# while it hands over their next few emails: delivery/handover.py, ADR 0014), short enough to
# answer within 2 s when the database stays unavailable. Only the first request to find it so
# pays this: the next ones are kept at once (_busy_lately).
QUICK_WAIT_SECONDS = 0.5
TRY_FOR_SECONDS = 1.5
RETRY_PAUSE_SECONDS = 0.05
SPOOL_POLL_SECONDS = 2.0

UNSUBSCRIBE = "unsubscribe"
MANAGE = "manage"
MANAGE_ACTIONS = ("save", "pause", "resume", "unsubscribe-all")
# Sources of a member's own choices: one made after a kept request supersedes it.
OWN_SOURCES = (
    ConsentSource.SUBSCRIBE_FORM,
    ConsentSource.CONFIRM,
    ConsentSource.MANAGE_PAGE,
    ConsentSource.ONE_CLICK,
    ConsentSource.MAILTO,
)
CHOICE_FIELDS = (ConsentField.SUBSCRIPTION, ConsentField.STATUS)


@dataclass(frozen=True)
class Done:
    """What became of a request: applied now (with what an unsubscribe removed), or kept."""

    kept: bool
    unsubscribed: preferences.Unsubscribed | None = None


class Dropped(Exception):
    """A kept request that cannot or need not be applied any more (logged, then forgotten)."""


# --- the requests --------------------------------------------------------------------------


def unsubscribe(token: str, source: ConsentSource = ConsentSource.ONE_CLICK) -> Done:
    """Leave the topics the send named in the unsubscribe `token` was for (one-click, mailto);
    raises links.BadLink for a link that is not ours."""
    member_id, _, _ = links.read_unsubscribe_token(token)
    request = {"kind": UNSUBSCRIBE, "token": token, "source": source.value}
    return _apply_or_keep(member_id, request)


def manage(token: str, action: str, topics: Mapping[str, Frequency] | None = None) -> Done:
    """A manage-page save: `action` is one of MANAGE_ACTIONS, `topics` the choices saved;
    raises links.BadLink for a link that is not ours, ValueError for an unknown action."""
    member_id, _ = links.read_manage_token(token)
    if action not in MANAGE_ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    chosen = {slug: frequency.value for slug, frequency in (topics or {}).items()}
    request = {"kind": MANAGE, "token": token, "action": action, "topics": chosen}
    return _apply_or_keep(member_id, request)


def _apply_or_keep(member_id: int, request: dict[str, Any]) -> Done:
    request["at"] = utcnow().isoformat()
    give_up_at = time.monotonic() + TRY_FOR_SECONDS
    # While the database as a whole was found unavailable a moment ago, the loop
    # (keep_applying) is left to find out when it is back. This member's requests still kept go
    # first; other members' do not matter here.
    if _busy_lately() or not apply_kept(give_up_at, member_id):
        return _keep(member_id, request)
    while True:
        try:
            return Done(kept=False, unsubscribed=_apply(request, late=False))
        except DATABASE_BUSY as exc:
            _note_busy(exc)
            if time.monotonic() + QUICK_WAIT_SECONDS > give_up_at:
                log.warning("database unavailable, keeping a %s request: %s", request["kind"], exc)
                return _keep(member_id, request)
            time.sleep(RETRY_PAUSE_SECONDS)


class _Busy:
    """When this process last found the whole database unavailable (time.monotonic())."""

    at = float("-inf")


_busy = _Busy()
ROW_LOCKED = "55P03"  # PostgreSQL's lock_not_available: one member's rows, not the database


def _note_busy(exc: Exception) -> bool:
    """Remember a failure of the whole database; True for one that was only a row lock."""
    if getattr(getattr(exc, "orig", None), "sqlstate", None) == ROW_LOCKED:
        return True
    _busy.at = time.monotonic()
    return False


def _busy_lately() -> bool:
    return time.monotonic() - _busy.at < SPOOL_POLL_SECONDS


def _keep(member_id: int, request: dict[str, Any]) -> Done:
    spool().put(request, tag=str(member_id))
    return Done(kept=True)


def spool() -> Spool:
    return Spool(get_settings().VAR_DIR / "spool" / "member-requests")


# --- applying ------------------------------------------------------------------------------


def _apply(request: dict[str, Any], late: bool) -> preferences.Unsubscribed | None:
    """Apply one request in a transaction of its own; `late` for one taken from the spool."""
    at = datetime.fromisoformat(request["at"])
    with session_scope(wait_seconds=QUICK_WAIT_SECONDS) as session:
        if request["kind"] == UNSUBSCRIBE:
            return _unsubscribe(session, request, at if late else None)
        _manage(session, request, at if late else None)
        return None


def _change(source: ConsentSource, at: datetime | None) -> Change:
    if at is None:
        return Change(source, MEMBER_ACTOR)
    reason = f"asked at {at:%Y-%m-%d %H:%M:%S} UTC while the database was unavailable"
    return Change(source, MEMBER_ACTOR, reason, at=at)


def _unsubscribe(
    session: Session, request: dict[str, Any], at: datetime | None
) -> preferences.Unsubscribed:
    member, send = preferences.member_and_send_from_unsubscribe_token(session, request["token"])
    keep = _chosen_since(session, member.id, at) if at else set()
    change = _change(ConsentSource(request["source"]), at)
    return preferences.unsubscribe_from_send(session, member, send, change, keep)


def _manage(session: Session, request: dict[str, Any], at: datetime | None) -> None:
    member = preferences.member_from_manage_token(session, request["token"])
    action = request["action"]
    fields = (ConsentField.PAUSE,) if action in ("pause", "resume") else CHOICE_FIELDS
    if at is not None and _changed_since(session, member.id, at, fields):
        raise Dropped("the member has made another choice since")
    change = _change(ConsentSource.MANAGE_PAGE, at)
    if action in ("pause", "resume"):
        preferences.set_paused(session, member, action == "pause", change)
    elif action == "unsubscribe-all":
        preferences.unsubscribe_all(session, member, change)
    else:
        topics = {slug: Frequency(value) for slug, value in request["topics"].items()}
        try:
            preferences.update_topics(session, member, topics, change)
        except MemberError as exc:  # a topic removed since, or one a form never offered
            raise Dropped(str(exc)) from None


def _own_choices_since(member_id: int, at: datetime, fields: tuple[ConsentField, ...]) -> Any:
    return select(ConsentEvent.topic_id, ConsentEvent.field).where(
        ConsentEvent.member_id == member_id,
        ConsentEvent.created_at > at,
        ConsentEvent.source.in_(OWN_SOURCES),
        ConsentEvent.field.in_(fields),
    )


def _changed_since(
    session: Session, member_id: int, at: datetime, fields: tuple[ConsentField, ...]
) -> bool:
    return session.execute(_own_choices_since(member_id, at, fields).limit(1)).first() is not None


def _chosen_since(session: Session, member_id: int, at: datetime) -> set[int]:
    """Topics the member chose about (by their own hand) after `at`: an earlier unsubscribe
    leaves them as they are now."""
    rows = session.execute(_own_choices_since(member_id, at, (ConsentField.SUBSCRIPTION,)))
    return {topic_id for topic_id, _ in rows if topic_id is not None}


def apply_kept(give_up_at: float | None = None, member_id: int | None = None) -> bool:
    """Apply the spool (or one member's part of it), each member's requests in the order they
    were made; True once nothing is left of it. A member whose rows are locked waits for the
    next pass; a database that is unavailable, another process draining meanwhile, or
    `give_up_at` (time.monotonic) passing ends this one."""
    kept = spool()
    tag = None if member_id is None else str(member_id)
    if kept.is_empty(tag):
        return True
    with kept.draining() as mine:
        if not mine:
            return False
        waiting: set[str] = set()  # members with a request still kept in this pass
        for path, request in kept.records(tag):
            if give_up_at is not None and time.monotonic() > give_up_at:
                return False
            whose = kept.tag_of(path)
            if whose in waiting:
                continue
            try:
                _apply(request, late=True)
            except DATABASE_BUSY as exc:
                if not _note_busy(exc):
                    return False
                waiting.add(whose)
                continue
            except (links.BadLink, Dropped, KeyError, ValueError) as exc:
                log.warning("kept request %s dropped: %s", path.name, exc)
            kept.done(path)
    return kept.is_empty(tag)


async def keep_applying() -> None:
    """The web app's loop: apply what was kept as soon as the database is back."""
    while True:
        await asyncio.sleep(SPOOL_POLL_SECONDS)
        try:
            await asyncio.to_thread(apply_kept)
        except Exception:  # a bug must not stop the loop; the next turn tries again
            log.exception("applying kept member requests failed")

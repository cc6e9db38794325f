"""What each member has already had, read from the ledger, so one article reaches them once.


An alert row holds its send's article; a digest row holds the article ids in its `content`.
A row sent or still on its way holds them for the member; a failed, cancelled or suppressed one
gives them back (`audience.holds`). Digest runs read this for each chunk of members, an alert
fan-out for its one article, a staff retry for the rows it would send again. Those writers
take `serialise` first, so two of them never both decide to carry one article (ADR 0011).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, func, select, true, update
from sqlalchemy.orm import Session

from newsletter.audience import (
    HOLDING,
    NOT_HOLDING,
    DigestArticle,
    History,
    HistoryRow,
    digest_content,
    groups_of,
    history_of,
    merge_histories,
    without_articles,
)
from newsletter.delivery.fanout import in_range
from newsletter.models import Article, Delivery, DeliveryStatus, Send, SendKind

# Any constant will do: the one advisory lock digest runs, alert fan-outs and retries share.
LOCK_KEY = 0x6E657773
CHUNK = 1000
HAD_SINCE = "the member has had its articles since, in another email"


def serialise(session: Session, *, exclusive: bool) -> None:
    """Wait for any other writer that decides who gets which article, until this transaction
    ends. A digest run or a retry is exclusive; alert fan-outs (one article each) share it, so
    they do not wait for one another.

    PostgreSQL only: SQLite has one writer at a time, and a digest run's first statement
    writes, so it reads all that the writer before it committed; a fan-out that read before
    another writer committed fails to write and its task runs again.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    lock = func.pg_advisory_xact_lock if exclusive else func.pg_advisory_xact_lock_shared
    session.execute(select(lock(LOCK_KEY)))


# Which sends to read ----------------------------------------------------------------------


@dataclass(frozen=True)
class Sends:
    """The alert and digest sends a read looks at. The send table is small: a run finds them
    once, and each chunk then reads delivery rows by send id, or nothing when there are none."""

    alerts: dict[int, tuple[int, datetime]]  # send id: (its article, when it was made)
    digests: dict[int, datetime]  # send id: when it was made

    def alerts_of(self, article_ids: Collection[int]) -> dict[int, int]:
        wanted = set(article_ids)
        return {sid: aid for sid, (aid, _) in self.alerts.items() if aid in wanted}

    def alerts_made(self, since: datetime) -> dict[int, int]:
        return {sid: aid for sid, (aid, made) in self.alerts.items() if made >= since}

    def digests_made(self, since: datetime) -> list[int]:
        return sorted(sid for sid, made in self.digests.items() if made >= since)


def sends_since(
    session: Session, since: datetime, article_ids: Collection[int] = (), leave_out: int = 0
) -> Sends:
    """The digests made since `since`, and the alerts made since then or of these articles
    (a digest holds only articles published by the time it was made, so a lower bound on
    that finds every digest that can hold an article); not the send `leave_out`."""
    made_since = Send.created_at >= since
    alerts = session.execute(
        select(Send.id, Send.article_id, Send.created_at).where(
            Send.kind == SendKind.ALERT,
            Send.article_id.is_not(None),
            made_since | Send.article_id.in_(list(article_ids)),
            Send.id != leave_out,
        )
    ).all()
    digests = session.execute(
        select(Send.id, Send.created_at).where(
            Send.kind == SendKind.DIGEST, made_since, Send.id != leave_out
        )
    ).all()
    return Sends(
        {sid: (aid, made) for sid, aid, made in alerts if aid is not None},
        {sid: made for sid, made in digests},
    )


# Reading rows ------------------------------------------------------------------------------
# Through the session's connection, not the ORM: many plain rows, whose ORM result handling
# cost several times the query (20,000 members, a week of digests).


def holding() -> ColumnElement[bool]:
    """SQL twin of audience.holds, for a Delivery row."""
    return Delivery.status.in_(sorted(HOLDING))


def alert_rows(
    session: Session, who: ColumnElement[bool], alerts: Mapping[int, int]
) -> Iterator[HistoryRow]:
    """Rows (`who`: a condition on Delivery.member_id) in these alerts ({send: article})."""
    if not alerts:
        return
    rows = (
        session.connection()
        .execute(
            select(Delivery.member_id, holding(), Delivery.send_id).where(
                Delivery.send_id.in_(sorted(alerts)), who
            )
        )
        .all()
    )
    for member_id, holds, send_id in rows:
        yield member_id, holds, (alerts[send_id],)


def digest_rows(
    session: Session,
    who: ColumnElement[bool],
    send_ids: Sequence[int],
    statuses: Collection[DeliveryStatus] | None = None,
) -> Iterator[HistoryRow]:
    """Rows in these digests. Members mostly share a digest's content: the rows come grouped
    by content, each with its members' ids, so a week of daily digests is a few hundred rows,
    not one a member a day."""
    if not send_ids:
        return
    holds = holding()
    content = cast(Delivery.content, Text)
    query = (
        select(holds, content, member_ids(session))
        .where(Delivery.send_id.in_(list(send_ids)), who)
        .group_by(holds, content)
    )
    if statuses is not None:
        query = query.where(Delivery.status.in_(sorted(statuses)))
    for holding_them, text, members in session.connection().execute(query).all():
        articles = _article_ids(text)
        for member_id in _ids(members):
            yield member_id, holding_them, articles


def member_ids(session: Session) -> ColumnElement[Any]:
    """The grouped rows' member ids: an array on PostgreSQL, "1,5,9" on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return func.array_agg(Delivery.member_id)
    return func.group_concat(Delivery.member_id)


def _ids(members: list[int] | str | None) -> Iterator[int]:
    if isinstance(members, str):
        yield from (int(member) for member in members.split(","))
    elif members:
        yield from members


def undelivered_rows(
    session: Session, who: ColumnElement[bool], alerts: Mapping[int, int], digests: Sequence[int]
) -> Iterator[HistoryRow]:
    """Rows of these alerts ({send: article}) and digests that did not deliver: what they
    give back."""
    send_ids = [*alerts, *digests]
    if not send_ids:
        return
    rows = (
        session.connection()
        .execute(
            select(Delivery.member_id, Delivery.send_id, cast(Delivery.content, Text)).where(
                Delivery.send_id.in_(sorted(send_ids)),
                Delivery.status.in_(sorted(NOT_HOLDING)),
                who,
            )
        )
        .all()
    )
    for member_id, send_id, content in rows:
        held = (alerts[send_id],) if send_id in alerts else _article_ids(content)
        yield member_id, False, held


@lru_cache(maxsize=4096)
def _article_ids(content: str | None) -> tuple[int, ...]:
    # Members mostly share a digest's content: each distinct text is parsed once.
    groups = groups_of(json.loads(content) if content else None)
    return tuple(article_id for _, ids in groups for article_id in ids)


# Histories ---------------------------------------------------------------------------------


def chunk_histories(
    session: Session,
    members: Sequence[int],
    articles: Sequence[DigestArticle],
    since: datetime,
    sends: Sends,
) -> dict[int, History]:
    """What each member of a chunk (ids in order) has had of these articles, which are the
    ones published after `since`, and what the alerts and digests made since then that did
    not go out gave back. `sends` holds at least those sends."""
    who = in_range(Delivery.member_id, members)
    rows = [*undelivered_rows(session, who, sends.alerts_made(since), sends.digests_made(since))]
    if articles:
        rows += alert_rows(session, who, sends.alerts_of([a.id for a in articles]))
        earliest = min(a.published_at for a in articles)
        rows += digest_rows(session, who, sends.digests_made(earliest))
    return _recheck_given_back(session, history_of(rows))


def _recheck_given_back(session: Session, found: dict[int, History]) -> dict[int, History]:
    """An article given back may have reached the member since in an email older than the
    chunk's reads: read those members' rows back to when the article was published. (Few:
    only an email that did not go out gives anything back.)"""
    back = sorted(member for member, h in found.items() if h.given_back)
    if not back:
        return found
    ids = set().union(*(found[member].given_back for member in back))
    published = session.scalar(select(func.min(Article.published_at)).where(Article.id.in_(ids)))
    if published is None:
        return found
    sends = sends_since(session, published, ids)
    who = in_range(Delivery.member_id, back)
    again = history_of(
        [
            *alert_rows(session, who, sends.alerts_of(ids)),
            *digest_rows(session, who, sends.digests_made(published)),
        ]
    )
    return {
        member: merge_histories(h, again[member]) if member in again else h
        for member, h in found.items()
    }


def members_who_had(
    session: Session,
    article_id: int,
    published_at: datetime,
    members: Sequence[int] | None = None,
) -> list[int]:
    """Members (of a chunk, ids in order, when given) a digest has carried this article to (or
    is carrying it to): its alert, made late, leaves them out. Usually no digest has been made
    since it was published."""
    made = sends_since(session, published_at).digests_made(published_at)
    who = true() if members is None else in_range(Delivery.member_id, members)
    rows = digest_rows(session, who, made, statuses=HOLDING)
    return sorted({member_id for member_id, _, ids in rows if article_id in ids})


# Retries -----------------------------------------------------------------------------------


def leave_out_what_was_had(session: Session, send: Send) -> int:
    """Before a staff retry of an alert or a digest: a failed row whose articles the member
    has had since in another email is cancelled; a digest row with only some of them loses
    those. Returns how many rows were cancelled."""
    if send.kind not in (SendKind.ALERT, SendKind.DIGEST):
        return 0
    serialise(session, exclusive=True)
    failed = (
        session.connection()
        .execute(
            select(Delivery.id, Delivery.member_id, cast(Delivery.content, Text))
            .where(Delivery.send_id == send.id, Delivery.status == DeliveryStatus.FAILED)
            .order_by(Delivery.member_id)
        )
        .all()
    )
    cancelled = 0
    for start in range(0, len(failed), CHUNK):
        cancelled += _leave_out(session, send, failed[start : start + CHUNK])
    return cancelled


def _leave_out(session: Session, send: Send, rows: Sequence[Any]) -> int:
    held: dict[int, tuple[int, ...]] = {
        delivery_id: (send.article_id,) if send.article_id is not None else _article_ids(content)
        for delivery_id, _, content in rows
    }
    ids = {article_id for articles in held.values() for article_id in articles}
    published = session.scalar(select(func.min(Article.published_at)).where(Article.id.in_(ids)))
    if published is None:
        return 0
    sends = sends_since(session, published, ids)
    who = in_range(Delivery.member_id, [member_id for _, member_id, _ in rows])
    found = history_of(
        [
            *alert_rows(session, who, sends.alerts_of(ids)),
            *digest_rows(session, who, sends.digests_made(published)),
        ]
    )
    cancel: list[dict[str, Any]] = []
    trim: list[dict[str, Any]] = []
    for delivery_id, member_id, content in rows:
        had = found[member_id].had & set(held[delivery_id]) if member_id in found else set()
        if not had:
            continue
        if had >= set(held[delivery_id]):
            cancel.append(
                {"id": delivery_id, "status": DeliveryStatus.CANCELLED, "last_error": HAD_SINCE}
            )
        else:
            kept = without_articles(groups_of(json.loads(content or "null")), had)
            trim.append({"id": delivery_id, "content": digest_content(kept)})
    for changes in (cancel, trim):
        if changes:  # ORM bulk UPDATE by primary key: one executemany
            session.execute(update(Delivery), changes)
    return len(cancel)

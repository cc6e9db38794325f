"""Fan-out: one Send row (found again by its idempotency key) and its Delivery rows, set-based.

The Delivery rows of an audience are written by one INSERT ... SELECT, so 100,000 members never
pass through Python; (send, member) is unique and conflicts are ignored, so running a fan-out
twice adds nobody twice. Ids are then streamed back in batches for the delivery tasks.

A digest run and an alert write theirs a chunk of members at a time (streaming.py).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    FromClause,
    Integer,
    Select,
    column,
    func,
    literal,
    select,
    text,
    true,
)
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.types import TypeEngine

from newsletter.audience import Audience
from newsletter.db import get_engine, insert_for, rows_changed
from newsletter.delivery.eligibility import member_in_audience, member_may_receive
from newsletter.models import (
    Delivery,
    DeliveryStatus,
    Member,
    Send,
    SendKind,
    SendStatus,
    UTCDateTime,
    utcnow,
)


def create_send(
    session: Session,
    *,
    kind: SendKind,
    key: str | None,
    audience: Audience,
    status: SendStatus = SendStatus.SENDING,
    now: datetime | None = None,
    **fields: Any,
) -> tuple[int, bool]:
    """Insert a send unless one with this key exists; returns (send id, created)."""
    now = now or utcnow()
    values = {
        "kind": kind,
        "status": status,
        "key": key,
        "audience": audience.to_json(),
        "created_at": now,
        "started_at": now if status == SendStatus.SENDING else None,
        "subject": "",
        "body_markdown": "",
        "created_by": "system",
        **fields,
    }
    statement = insert_for(session, Send).values(**values)
    if key is not None:
        statement = statement.on_conflict_do_nothing(index_elements=["key"])
    send_id = session.scalar(statement.returning(Send.id))
    if send_id is not None:
        return send_id, True
    existing = session.scalar(select(Send.id).where(Send.key == key))
    assert existing is not None
    return existing, False


def add_audience(
    session: Session,
    send_id: int,
    audience: Audience,
    now: datetime,
    leave_out: Collection[int] = (),
    only: ColumnElement[bool] | None = None,
) -> int:
    """One Delivery row per member of the audience who may receive mail, but those in
    `leave_out`, and (given `only`, correlated to Member) only those it holds for; returns
    rows added."""
    members = (
        select(
            literal(send_id),
            Member.id,
            literal(DeliveryStatus.PENDING.value),
            literal(0),
            literal(""),
            literal(now, UTCDateTime()),
        )
        .where(member_may_receive(), member_in_audience(audience))
        .order_by(Member.id)
    )
    if leave_out:
        left = json_rows(session, [{"member_id": m} for m in leave_out], member_id=Integer())
        members = members.where(Member.id.not_in(select(left.c.member_id)))
    if only is not None:
        members = members.where(only)
    statement = (
        insert_for(session, Delivery)
        .from_select(
            ["send_id", "member_id", "status", "attempts", "last_error", "next_attempt_at"],
            members,
        )
        .on_conflict_do_nothing(index_elements=["send_id", "member_id"])
    )
    return rows_changed(session.execute(statement))


def add_members(session: Session, send_id: int, member_ids: Sequence[int]) -> list[int]:
    """A Delivery row for each of these members (a chunk of the audience just read: the
    claim checks each member again); returns the new rows' ids. Reading the audience once
    and inserting the ids costs half of an INSERT ... SELECT that read it again."""
    if not member_ids:
        return []
    given = json_rows(session, [{"member_id": m} for m in member_ids], member_id=Integer())
    return _insert_rows(session, send_id, given, with_content=False)


def add_deliveries(session: Session, send_id: int, rows: Sequence[tuple[int, Any]]) -> list[int]:
    """Delivery rows with per-member content, e.g. a digest's articles; (member_id, content).
    Returns the new rows' ids.

    `content` is a JSON object or array. The rows go in one INSERT ... SELECT: an executemany
    of one row each cost ~56 µs a row on PostgreSQL, this ~16 (bench/ data, 100,000 members).
    """
    if not rows:
        return []
    given = json_rows(
        session,
        [{"member_id": member_id, "content": content} for member_id, content in rows],
        member_id=Integer(),
        content=JSON(),
    )
    return _insert_rows(session, send_id, given, with_content=True)


def _insert_rows(
    session: Session, send_id: int, given: FromClause, *, with_content: bool
) -> list[int]:
    """Pending rows for `given`'s members (and contents); returns the new rows' ids."""
    columns = ["send_id", "member_id", "status", "attempts", "last_error", "next_attempt_at"]
    values = [
        literal(send_id),
        given.c.member_id,
        literal(DeliveryStatus.PENDING.value),
        literal(0),
        literal(""),
        literal(utcnow(), UTCDateTime()),
    ]
    if with_content:
        columns.append("content")
        values.append(given.c.content)
    # Without a WHERE, SQLite parses ON CONFLICT's ON as a join's.
    rows = select(*values).where(true())
    statement = (
        insert_for(session, Delivery)
        .from_select(columns, rows)
        .on_conflict_do_nothing(index_elements=["send_id", "member_id"])
        .returning(Delivery.id)
    )
    # Through the connection: the ORM's handling of the returned ids cost more than the insert.
    return list(session.connection().execute(statement).scalars().all())


def json_rows(
    session: Session, rows: Sequence[dict[str, Any]], **columns: TypeEngine[Any]
) -> FromClause:
    """`rows` as a table with these columns, sent to the database as one JSON document.

    A JSON column's values must be objects or arrays (SQLite hands back bare strings unquoted).
    """
    document = literal(list(rows), JSON())
    if session.get_bind().dialect.name == "postgresql":
        return (
            func.json_to_recordset(document)
            .table_valued(*(column(name, type_) for name, type_ in columns.items()))
            .render_derived(with_types=True)
        )
    each = func.json_each(document).table_valued("value")
    return select(
        *(func.json_extract(each.c.value, f"$.{name}").label(name) for name in columns)
    ).subquery()


def in_range(column: InstrumentedAttribute[int], members: Sequence[int]) -> ColumnElement[bool]:
    """The rows of a chunk's id range (`members` in order); those of members in between who
    are not in the chunk come too, and the caller ignores them.

    A range is one index scan whatever the statistics say. On PostgreSQL a list of 1,000 ids
    cost 4-9 ms a statement; `= ANY(array)` was quick until a process's second run (psycopg
    keeps a generic plan) read all of digest_watermark for each chunk, the table's statistics
    saying it was empty: ~50 ms a chunk at 100,000 members.
    """
    return column.between(members[0], members[-1])


def pending_batches(session: Session, send_id: int, size: int) -> Iterator[list[int]]:
    """The send's pending delivery ids, `size` at a time, without loading them all at once."""

    def page(last: int) -> Select[int]:
        return select(Delivery.id).where(
            Delivery.send_id == send_id,
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.id > last,
        )

    return _pages(session, page, Delivery.id, size)


def audience_chunks(
    session: Session, audience: Audience, size: int, after: int = 0
) -> Iterator[list[int]]:
    """Ids of the audience's members who may receive mail, after member `after`, in order,
    `size` at a time."""
    return eligible_chunks(session, lambda _: member_in_audience(audience), size, after)


def eligible_chunks(
    session: Session,
    wanted: Callable[[int], ColumnElement[bool]],
    size: int,
    after: int = 0,
) -> Iterator[list[int]]:
    """Ids of members after member `after` who may receive mail and are `wanted` (a condition
    correlated to Member, made for each chunk from the last id before it), in order, `size` at
    a time."""

    def page(last: int) -> Select[int]:
        return select(Member.id).where(Member.id > last, member_may_receive(), wanted(last))

    return _pages(session, page, Member.id, size, after)


def _pages(
    session: Session,
    page: Callable[[int], Select[int]],
    key: InstrumentedAttribute[int],
    size: int,
    after: int = 0,
) -> Iterator[list[int]]:
    """The ids `page(last)` selects after id `last`, in order, `size` at a time (keyset paging:
    each page is one index range, however far in)."""
    last = after
    while True:
        query = page(last).order_by(key).limit(size)
        ids = list(session.connection().execute(query).scalars().all())  # plain rows, not ORM
        if not ids:
            return
        yield ids
        last = ids[-1]


def pending_ids(session: Session, send_id: int) -> list[int]:
    """The send's pending delivery ids, in order."""
    size = 10_000
    return [i for ids in pending_batches(session, send_id, size) for i in ids]


BIG_FANOUT = 5000


def refresh_statistics(added: int) -> None:
    """After a big fan-out, let PostgreSQL's planner see how large the ledger has become.

    Until autovacuum gets to it, the planner believes `delivery` is as small as it was, and
    each batch's claim scans every pending row of the send (bench/: 161 ms a claim instead
    of 4 ms at 100k, so a send grew faster than linearly). SQLite has no such statistics.
    """
    engine = get_engine()
    if engine.dialect.name != "postgresql" or added < BIG_FANOUT:
        return
    with engine.begin() as connection:
        connection.execute(text("ANALYZE delivery"))

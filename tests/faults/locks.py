"""Stopping a worker's transaction half way, to kill it there: a table, or rows, locked by the
test.

`LOCK TABLE ... IN EXCLUSIVE MODE` lets everyone read the table and makes the next writer
wait, inside its transaction, with all it did before; `waiting_to_write` sees it waiting.
A member's row locked FOR UPDATE makes a streamed fan-out wait at the chunk that writes that
member's row (the foreign key locks the member's row to share), once the chunks before it are
committed, queued and sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import select, text

from newsletter.db import get_engine
from newsletter.models import Member


@contextmanager
def table_locked(table: str) -> Iterator[None]:
    """Writes to `table` wait for the length of the block."""
    with get_engine().connect() as connection:
        transaction = connection.begin()
        connection.execute(text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))
        try:
            yield
        finally:
            transaction.rollback()


@contextmanager
def members_locked(emails: Sequence[str]) -> Iterator[None]:
    """Rows referring to these members wait for the length of the block."""
    with get_engine().connect() as connection:
        transaction = connection.begin()
        connection.execute(
            select(Member.id).where(Member.email.in_(list(emails))).with_for_update()
        ).all()
        try:
            yield
        finally:
            transaction.rollback()


def waiting_to_write(table: str) -> bool:
    """A session of this database is waiting for a lock to insert into `table`."""
    with get_engine().connect() as connection:
        waiting = connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE :insert"
            ),
            {"insert": f"INSERT INTO {table} %"},
        )
    return bool(waiting)

"""Writing each message's result: the pipelined PostgreSQL writer records exactly what the
ledger's own statement records, on rows still ours only, and leaves its connection clean."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from newsletter.db import get_engine, session_scope
from newsletter.delivery import ledger
from newsletter.delivery.backends.base import Outcome, SendResult
from newsletter.delivery.results import PipelinedWriter, result_writer
from newsletter.models import Delivery, Member
from newsletter.scheduling import Backoff
from tests.support.delivery_data import add_member, fan_out_breaking

BACKOFF = Backoff(max_attempts=5, base_seconds=60, jitter=0.0)
REPLIES = {
    "sent": SendResult(Outcome.SENT, 250, "250 2.0.0 queued as 1"),
    "later": SendResult(Outcome.DEFERRED, 451, "451 4.3.0 try again – später"),
    "failed": SendResult(Outcome.FAILED, 554, "554 5.7.1 refusé par la politique"),
}


def claimed_rows(session: Session, names: list[str]) -> dict[str, ledger.Claimed]:
    """Two claimed rows per name ("ann-writer", "ann-ledger", ...), keyed by local part."""
    for name in names:
        for way in ("writer", "ledger"):
            add_member(session, f"{name}-{way}@example.com", {"funding": "immediate"})
    send_id = fan_out_breaking(session)
    with session_scope() as s:
        ids = list(s.scalars(select(Delivery.id).where(Delivery.send_id == send_id)))
        claimed = ledger.claim(s, send_id, ids, datetime.now(UTC))
        emails = dict(s.execute(select(Member.id, Member.email)).all())
    return {emails[c.member_id].split("@")[0]: c for c in claimed}


def row(delivery_id: int) -> dict[str, Any]:
    with session_scope() as s:
        found = s.get(Delivery, delivery_id)
        assert found is not None
        return {
            "status": found.status.value,
            "message_id": found.message_id,
            "last_error": found.last_error,
            "sent": found.sent_at is not None,
            "next_attempt": found.next_attempt_at is not None,
        }


def test_the_writer_records_each_outcome_as_the_ledger_does(session: Session, db_url: str) -> None:
    rows = claimed_rows(session, list(REPLIES))
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        writer = result_writer(connection, BACKOFF)
        if db_url.startswith("postgresql"):
            assert isinstance(writer, PipelinedWriter)
        for name, reply in REPLIES.items():
            attempt = ledger.Attempt(rows[f"{name}-writer"], reply, f"<{name}@example.com>")
            assert writer.write(attempt).value == {"later": "deferred"}.get(name, name)
        writer.finish()
        assert connection.execute(text("SELECT 1")).scalar() == 1  # nothing left unread
    with session_scope() as s:
        for name, reply in REPLIES.items():
            attempt = ledger.Attempt(rows[f"{name}-ledger"], reply, f"<{name}@example.com>")
            ledger.write_results(s, [attempt], datetime.now(UTC), BACKOFF)

    for name in REPLIES:
        assert row(rows[f"{name}-writer"].id) == row(rows[f"{name}-ledger"].id), name
    assert row(rows["later-writer"].id)["last_error"] == "451 4.3.0 try again – später"
    assert row(rows["sent-writer"].id)["message_id"] == "<sent@example.com>"


def test_a_row_taken_back_by_the_sweep_is_left_alone(session: Session) -> None:
    rows = claimed_rows(session, ["ann", "bob"])
    taken_back = rows["ann-writer"]
    with session_scope() as s:  # the sweep gave it back and another worker claimed it again
        s.execute(update(Delivery).where(Delivery.id == taken_back.id).values(attempts=2))
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        writer = result_writer(connection, BACKOFF)
        writer.write(ledger.Attempt(taken_back, REPLIES["sent"], "<late@example.com>"))
        writer.write(ledger.Attempt(rows["bob-writer"], REPLIES["sent"], "<bob@example.com>"))
        writer.finish()

    assert row(taken_back.id)["status"] == "sending"
    assert row(rows["bob-writer"].id)["status"] == "sent"


def test_the_connection_goes_back_to_the_pool_usable(session: Session) -> None:
    rows = claimed_rows(session, ["ann", "bob", "cat"])
    for name in ("ann", "bob", "cat"):  # the same pooled connection each time
        with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            writer = result_writer(c, BACKOFF)
            writer.write(ledger.Attempt(rows[f"{name}-writer"], REPLIES["sent"], f"<{name}@x>"))
            writer.finish()
        with session_scope() as s:  # another checkout of it runs ordinary statements
            assert (
                s.scalar(
                    select(Delivery.message_id).where(Delivery.id == rows[f"{name}-writer"].id)
                )
                == f"<{name}@x>"
            )

"""Members held while their messages are handed over: never for long (ADR 0014).

An unsubscribe, a pause or a change of topics writes the member's rows. While a worker hands a
member's message over, it holds those rows (`ledger.lock_and_recheck`: SELECT ... FOR SHARE,
with the check that the member may still have it), so the change waits, and once it has
returned no message it should have stopped is begun. A hold is short:

- it is renewed (committed, and taken again for the messages left) once it is HOLD_SECONDS old,
  so an unsubscribe waits for about that long behind a healthy SMTP server;
- on PostgreSQL the server itself ends a hold left idle for LOCK_LIMIT_MS
  (`idle_in_transaction_session_timeout`, set for the hold's transaction only): an SMTP server
  that stalls in the middle of a transaction, or a worker that is frozen or cut off, keeps no
  member's unsubscribe waiting for longer than that. The message in the stalled transaction was
  begun under the hold and may still be delivered; the messages after it are checked again
  under a new hold. LOCK_LIMIT_MS is longer than HOLD_SECONDS, so a hold PostgreSQL ended is
  always one the worker renews before it begins another message.

SQLite has no row locks: there the hold is the check alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import InterfaceError, InternalError, OperationalError
from sqlalchemy.orm import Session, SessionTransaction

from newsletter.audience import Audience
from newsletter.delivery import ledger

HOLD_SECONDS = 0.1
LOCK_LIMIT_MS = 500
TAKE_ATTEMPTS = 3
# 25P03 (the hold ended by LOCK_LIMIT_MS) is an InternalError; a database gone, OperationalError.
_ENDED = (OperationalError, InterfaceError, InternalError)


@dataclass
class Hold:
    """One hold: the ids of the rows still ours whose members may have their message."""

    ids: set[int]
    started: float = field(default_factory=time.monotonic)

    def expired(self) -> bool:
        return time.monotonic() - self.started > HOLD_SECONDS


class MemberHolds:
    """The holds of one SMTP connection's share, one after another on one database connection."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None

    @contextmanager
    def holding(self, claimed: Sequence[ledger.Claimed], audience: Audience) -> Iterator[Hold]:
        """Hold these rows' members for the length of the block (which writes nothing with
        the hold: PostgreSQL may end it, and the writes with it)."""
        session, transaction, ids = self._take(claimed, audience)
        try:
            yield Hold(ids)
        except BaseException:
            self._end(transaction, commit=False)
            raise
        else:
            self._end(transaction, commit=True)
        finally:
            session.close()

    def _take(
        self, claimed: Sequence[ledger.Claimed], audience: Audience
    ) -> tuple[Session, SessionTransaction, set[int]]:
        """Begin the hold; again, on a new connection, if the one kept was ended meanwhile."""
        for attempt in range(TAKE_ATTEMPTS):
            if self._connection is None:
                self._connection = self._engine.connect()
            session = Session(bind=self._connection)
            transaction = session.begin()
            try:
                ids = ledger.lock_and_recheck(session, claimed, audience)
                if self._connection.dialect.name == "postgresql":
                    # Only from here: the limit is for the SMTP transactions, not for a thread
                    # of a loaded machine that waits its turn between the hold's statements.
                    session.execute(
                        text(f"SET LOCAL idle_in_transaction_session_timeout = {LOCK_LIMIT_MS}")
                    )
                return session, transaction, ids
            except _ENDED:
                self._end(transaction, commit=False)
                session.close()
                self._discard()
                if attempt == TAKE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _end(self, transaction: SessionTransaction, commit: bool) -> None:
        try:
            if commit:
                transaction.commit()
            else:
                transaction.rollback()
        except _ENDED:
            # PostgreSQL ended the hold (LOCK_LIMIT_MS), or is gone: the locks went with the
            # connection. The next hold takes a new connection; if the database is really
            # gone, that is where it shows.
            self._discard()

    def _discard(self) -> None:
        if self._connection is not None:
            self._connection.invalidate()
            self._connection.close()
            self._connection = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

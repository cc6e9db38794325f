"""Write each message's result the moment the SMTP server has answered it.

A worker killed in the middle of a batch must leave at most the message in its hands without a
result (the recovery sweep sends again only that one), so results are written one by one, each
in its own transaction. Waiting for each of those commits (a WAL flush with PostgreSQL's durable
defaults) used to be a third of a batch's time. On PostgreSQL the UPDATE is therefore sent and
the worker goes on to the next SMTP transaction; its answer is read just before the next UPDATE
is sent. At most one result is on its way at any moment, and it has left the worker: the
database commits it even if the worker dies before reading the answer.

SQLite (the embedded default, a local file) writes and waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from weakref import WeakSet

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from newsletter.delivery import ledger
from newsletter.models import DeliveryStatus, utcnow
from newsletter.scheduling import Backoff


class ResultsUnwritten(Exception):
    """The database went away: these attempts' results may not have been written."""

    def __init__(self, attempts: Sequence[ledger.Attempt], cause: OperationalError) -> None:
        super().__init__(str(cause))
        self.attempts = list(attempts)
        self.cause = cause


class ResultWriter(Protocol):
    def write(self, attempt: ledger.Attempt) -> DeliveryStatus:
        """Record one result (it may still be on its way when this returns)."""

    def finish(self) -> None:
        """Wait until every result handed to write() is in the database."""


def result_writer(connection: Connection, backoff: Backoff) -> ResultWriter:
    """A writer over an AUTOCOMMIT connection, the fastest the database allows."""
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        return PipelinedWriter(connection, backoff)
    return WaitingWriter(connection, backoff)


class WaitingWriter:
    """Each result in its own statement, waiting for the database to confirm it."""

    def __init__(self, connection: Connection, backoff: Backoff) -> None:
        self._session = Session(bind=connection)
        self._backoff = backoff

    def write(self, attempt: ledger.Attempt) -> DeliveryStatus:
        try:
            counts = ledger.write_results(self._session, [attempt], utcnow(), self._backoff)
        except OperationalError as exc:
            raise ResultsUnwritten([attempt], exc) from exc
        [status] = counts
        return status

    def finish(self) -> None:
        pass


# The ledger's conditional result UPDATE (ledger._write_result), in PostgreSQL's own terms.
_UPDATE = (
    b"UPDATE delivery SET status = $3, message_id = $4, sent_at = $5, next_attempt_at = $6,"
    b" last_error = $7 WHERE id = $1 AND status = 'sending' AND attempts = $2"
)
_STATEMENT = b"newsletter_write_result"
_prepared_on: WeakSet[Any] = WeakSet()  # libpq connections that have the statement prepared


class PipelinedWriter:
    """PostgreSQL: send each result's UPDATE and go on; read its answer before the next."""

    def __init__(self, connection: Connection, backoff: Backoff) -> None:
        self._connection = connection
        driver = connection.connection.dbapi_connection
        assert driver is not None
        self._encoding: str = driver.info.encoding  # type: ignore[attr-defined]
        self._pgconn: Any = driver.pgconn  # type: ignore[attr-defined]
        self._backoff = backoff
        self._in_flight: ledger.Attempt | None = None

    def write(self, attempt: ledger.Attempt) -> DeliveryStatus:
        params = ledger.result_params(attempt, utcnow(), self._backoff)
        try:
            self._confirm()
        except OperationalError as exc:
            raise ResultsUnwritten(self._take_in_flight() + [attempt], exc) from exc
        try:
            self._send(params)
        except OperationalError as exc:
            raise ResultsUnwritten([attempt], exc) from exc
        self._in_flight = attempt
        status: DeliveryStatus = params["b_status"]
        return status

    def finish(self) -> None:
        try:
            self._confirm()
        except OperationalError as exc:
            raise ResultsUnwritten(self._take_in_flight(), exc) from exc

    def _take_in_flight(self) -> list[ledger.Attempt]:
        attempt, self._in_flight = self._in_flight, None
        return [attempt] if attempt is not None else []

    def _send(self, params: dict[str, Any]) -> None:
        import psycopg

        values = [params[name] for name in _ORDER]
        try:
            self._prepare()
            self._pgconn.send_query_prepared(_STATEMENT, [self._text(v) for v in values])
        except psycopg.Error as exc:
            self._connection.invalidate()
            raise OperationalError(_UPDATE.decode(), values, exc) from exc

    def _confirm(self) -> None:
        """Read the answer to the UPDATE in flight, if any."""
        import psycopg
        from psycopg import errors, pq

        if self._in_flight is None:
            return
        try:
            while (result := self._pgconn.get_result()) is not None:
                if result.status != pq.ExecStatus.COMMAND_OK:
                    raise errors.error_from_result(result, encoding=self._encoding)
        except psycopg.Error as exc:
            self._connection.invalidate()
            raise OperationalError(_UPDATE.decode(), None, exc) from exc
        self._in_flight = None

    def _prepare(self) -> None:
        from psycopg import errors, pq

        if self._pgconn in _prepared_on:
            return
        result = self._pgconn.prepare(_STATEMENT, _UPDATE)
        if result.status != pq.ExecStatus.COMMAND_OK:
            raise errors.error_from_result(result, encoding=self._encoding)
        _prepared_on.add(self._pgconn)

    def _text(self, value: Any) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.isoformat().encode()
        if isinstance(value, DeliveryStatus):
            return value.value.encode()
        return str(value).encode(self._encoding)


_ORDER = ("b_id", "b_attempts", "b_status", "b_message_id", "b_sent_at", "b_next", "b_error")

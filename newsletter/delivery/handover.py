"""Hand a batch's messages to the backend, recording each result as soon as the server answers.

Two database connections work together for each batch:

- a transaction that locks the members of the next few messages (`ledger.hold`) and checks
  they may still have them, and stays open while those messages are handed over: an
  unsubscribe, pause or change of topics writes the same rows, so it waits, and once it has
  returned no message it should have stopped can still go out;
- an autocommit connection that writes each result the moment the server has answered
  (results.py: on PostgreSQL without waiting for the commit): a worker killed in the middle of
  a batch leaves at most the message in its hands without a result, so the recovery sweep
  sends again at most that one, not the whole batch.

If the database goes away after the server took a message, that result is written as soon as
the database is back, and the rest of the batch is left to the sweep; a restart of PostgreSQL
therefore loses and doubles nothing.

Costs: one statement per message, a lock statement per HELD_AT_ONCE messages, and an
unsubscribe may wait for up to HELD_AT_ONCE SMTP transactions. A batch is shared between
SMTP_CONNECTIONS_PER_PROCESS connections in threads, each with its own pair of database
connections; a worker process killed mid-batch may so leave one message per connection without
its result.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from sqlalchemy import Connection as SqlConnection
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from newsletter.audience import Audience
from newsletter.config import Settings
from newsletter.db import get_engine, session_scope
from newsletter.delivery import ledger
from newsletter.delivery.backends.base import BackendUnavailable, Connection, Outcome, SendResult
from newsletter.delivery.results import ResultsUnwritten, ResultWriter, result_writer
from newsletter.models import DeliveryStatus, utcnow
from newsletter.observability import metrics
from newsletter.scheduling import Backoff

if TYPE_CHECKING:
    from newsletter.rendering import OutgoingMessage

log = logging.getLogger(__name__)

# An unsubscribe waits for at most this many SMTP transactions (~25 ms to a local relay);
# 20 made the lock statement a tenth of a worker's time in bench/.
HELD_AT_ONCE = 50
MIN_SHARE = 20
DATABASE_GONE = (OperationalError, InterfaceError)
RECORD_RETRY_SECONDS = 0.5

Pair = tuple[ledger.Claimed, "OutgoingMessage"]


def hand_over(
    pairs: Sequence[Pair], audience: Audience, settings: Settings
) -> tuple[Counter[DeliveryStatus], str]:
    """Send the claimed rows' messages, paced by the shared rate limit; returns the counts by
    new status and, when the backend was unreachable, why.

    The batch is shared between SMTP_CONNECTIONS_PER_PROCESS connections, each in its own
    thread: a worker process spends most of each message waiting for the SMTP server and the
    database (bench/: three quarters of the time), and the threads wait side by side."""
    shares = _shares(pairs, settings.SMTP_CONNECTIONS_PER_PROCESS)
    if len(shares) == 1:
        return _hand_over_share(pairs, audience, settings)
    with ThreadPoolExecutor(len(shares), thread_name_prefix="smtp") as pool:
        futures = [pool.submit(_hand_over_share, share, audience, settings) for share in shares]
    counts: Counter[DeliveryStatus] = Counter()
    errors = []
    for future in futures:  # all have finished; the first that raised raises here
        share_counts, error = future.result()
        counts.update(share_counts)
        errors.append(error)
    return counts, next((e for e in errors if e), "")


def _shares(pairs: Sequence[Pair], connections: int) -> list[Sequence[Pair]]:
    """One share per connection, dealt in turn, so that the batch still goes out in order;
    none smaller than MIN_SHARE (a short batch is not worth another connection)."""
    count = max(1, min(connections, len(pairs) // MIN_SHARE))
    return [pairs[first::count] for first in range(count)]


def _hand_over_share(
    pairs: Sequence[Pair], audience: Audience, settings: Settings
) -> tuple[Counter[DeliveryStatus], str]:
    """Send over one connection: the whole batch, or one thread's share of it."""
    from newsletter.delivery.backends import get_backend
    from newsletter.delivery.ratelimit import connection_slot, make_rate_limiter

    backoff = ledger.backoff_from(settings)
    limiter = make_rate_limiter(settings)
    rate = settings.RATE_LIMIT_PER_SECOND
    step = max(1, int(rate)) if rate > 0 else len(pairs)
    counts: Counter[DeliveryStatus] = Counter()
    with connection_slot(settings):
        try:
            connection = get_backend(settings=settings).open()
        except BackendUnavailable as exc:
            log.warning("backend unavailable, deferring %d: %s", len(pairs), exc)
            result = SendResult(Outcome.DEFERRED, None, f"backend unavailable: {exc}")
            with session_scope() as session:
                attempts = [ledger.Attempt(claimed, result) for claimed, _ in pairs]
                counts.update(ledger.record(session, attempts, utcnow(), backoff))
            return counts, str(exc)
        autocommit = get_engine().connect().execution_options(isolation_level="AUTOCOMMIT")
        locks = get_engine().connect()  # one connection for every hold of the share
        try:
            results = result_writer(autocommit, backoff)  # each result commits on its own
            for start in range(0, len(pairs), step):
                chunk = pairs[start : start + step]
                limiter.acquire(len(chunk))
                for held in range(0, len(chunk), HELD_AT_ONCE):
                    part = chunk[held : held + HELD_AT_ONCE]
                    counts.update(
                        _hand_over_held(connection, results, locks, part, audience, settings)
                    )
            _finish(results, backoff, settings)
        finally:
            connection.close()
            autocommit.close()
            locks.close()
    return counts, ""


def _hand_over_held(
    connection: Connection,
    results: ResultWriter,
    locks: SqlConnection,
    pairs: Sequence[Pair],
    audience: Audience,
    settings: Settings,
) -> Counter[DeliveryStatus]:
    counts: Counter[DeliveryStatus] = Counter()
    attempts = []
    took: list[float] = []
    try:
        with Session(bind=locks) as held, held.begin():
            ours = ledger.hold(held, [claimed for claimed, _ in pairs], audience)
            for claimed, message in pairs:
                if claimed.id not in ours:
                    counts.update(ledger.set_aside(held, claimed))
                    continue
                started = time.perf_counter()
                [result] = connection.send_batch([message])
                took.append(time.perf_counter() - started)
                attempt = ledger.Attempt(claimed, result, message.message_id)
                attempts.append(attempt)
                counts[_write(results, attempt, settings)] += 1
                if result.outcome is not Outcome.SENT:
                    log.debug(
                        "not taken: %s",
                        result.detail,
                        extra={"delivery_id": claimed.id, "member_id": claimed.member_id},
                    )
    finally:  # counted once for the lot: a metric write costs ~7 µs
        metrics.count_handovers([a.result.code for a in attempts], took)
    # After the locks are released: another worker may hold the same member for another send.
    bounced = ledger.hard_bounces(attempts)
    if bounced:
        with session_scope() as session:
            ledger.suppress_bounced(session, bounced)
    return counts


def _write(results: ResultWriter, attempt: ledger.Attempt, settings: Settings) -> DeliveryStatus:
    try:
        return results.write(attempt)
    except ResultsUnwritten as exc:
        write_when_back(exc.attempts, ledger.backoff_from(settings), settings)
        raise exc.cause from exc  # the rest of the batch waits for the sweep


def _finish(results: ResultWriter, backoff: Backoff, settings: Settings) -> None:
    try:
        results.finish()
    except ResultsUnwritten as exc:
        write_when_back(exc.attempts, backoff, settings)
        raise exc.cause from exc


def write_when_back(
    attempts: Sequence[ledger.Attempt], backoff: Backoff, settings: Settings
) -> None:
    """The server has answered but the database went away before the answers were written:
    write them once the database is back (if the sweep has not taken the rows back by then)."""
    give_up_at = time.monotonic() + settings.SENDING_TIMEOUT_SECONDS
    while True:
        try:
            with session_scope() as session:
                ledger.write_results(session, attempts, utcnow(), backoff)
            return
        except DATABASE_GONE as exc:
            if time.monotonic() > give_up_at:
                log.error("gave up waiting for the database to record %s: %s", attempts, exc)
                return
            log.warning("database unavailable, the results of %s wait: %s", attempts, exc)
            time.sleep(RECORD_RETRY_SECONDS)

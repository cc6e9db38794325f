"""Hand a batch's messages to the backend, recording each result as soon as the server answers.

Two database connections work together for each batch:

- holds (holds.py): a short transaction that locks the members of the next few messages
  (`ledger.lock_and_recheck`) and checks they may still have them, open while those messages
  are handed over: an unsubscribe, pause or change of topics writes the same rows, so it
  waits, and once it has returned no message it should have stopped is begun. A hold is
  renewed every HOLD_SECONDS, and PostgreSQL ends one a stalled SMTP transaction keeps idle,
  so an unsubscribe never waits for an SMTP server (ADR 0014);
- an autocommit connection that writes each result the moment the server has answered
  (results.py: on PostgreSQL without waiting for the commit): a worker killed in the middle of
  a batch leaves at most the message in its hands without a result, so the recovery sweep
  sends again at most that one, not the whole batch.

If the database goes away after the server took a message, that result is written as soon as
the database is back, and the rest of the batch is left to the sweep; a restart of PostgreSQL
therefore loses nothing, and doubles nothing unless the database stays away until the sweep
takes the rows back (SENDING_TIMEOUT_SECONDS after their claim; docs/reliability.md).

Costs: one statement per message, a lock statement per HELD_AT_ONCE messages or HOLD_SECONDS,
whichever comes first. A batch is shared between SMTP_CONNECTIONS_PER_PROCESS connections in
threads, each with its own pair of database connections; a worker process killed mid-batch may
so leave one message per connection without its result.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from sqlalchemy.exc import InterfaceError, OperationalError

from newsletter.audience import Audience
from newsletter.config import Settings
from newsletter.db import get_engine, session_scope
from newsletter.delivery import ledger
from newsletter.delivery.backends.base import BackendUnavailable, Connection, Outcome, SendResult
from newsletter.delivery.holds import MemberHolds
from newsletter.delivery.results import ResultsUnwritten, ResultWriter, result_writer
from newsletter.models import DeliveryStatus, utcnow
from newsletter.observability import metrics
from newsletter.scheduling import Backoff

if TYPE_CHECKING:
    from newsletter.rendering import OutgoingMessage

log = logging.getLogger(__name__)

# A hold covers at most this many messages (and lasts at most holds.HOLD_SECONDS): 20 made the
# lock statement a tenth of a worker's time in bench/.
HELD_AT_ONCE = 50
MIN_SHARE = 20
DATABASE_GONE = (OperationalError, InterfaceError)
RECORD_RETRY_SECONDS = 0.5

Pair = tuple[ledger.Claimed, "OutgoingMessage"]


def send_and_record(
    pairs: Sequence[Pair], audience: Audience, settings: Settings, claimed_at: float
) -> tuple[Counter[DeliveryStatus], str]:
    """Send the claimed rows' messages, paced by the shared rate limit; returns the counts by
    new status and, when the backend was unreachable, why. `claimed_at`: time.monotonic() when
    the rows were claimed (their lease is renewed counting from then).

    The batch is shared between SMTP_CONNECTIONS_PER_PROCESS connections, each in its own
    thread: a worker process spends most of each message waiting for the SMTP server and the
    database (bench/: three quarters of the time), and the threads wait side by side."""
    shares = _shares(pairs, settings.SMTP_CONNECTIONS_PER_PROCESS)
    if len(shares) == 1:
        return _hand_over_share(pairs, audience, settings, claimed_at)
    with ThreadPoolExecutor(len(shares), thread_name_prefix="smtp") as pool:
        futures = [
            pool.submit(_hand_over_share, share, audience, settings, claimed_at) for share in shares
        ]
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
    pairs: Sequence[Pair], audience: Audience, settings: Settings, claimed_at: float
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
        holds = MemberHolds(get_engine())  # one connection for every hold of the share
        results = result_writer(autocommit, backoff)  # each result commits on its own
        try:
            lease = _Lease(settings, claimed_at)
            for start in range(0, len(pairs), step):
                end = min(start + step, len(pairs))
                limiter.acquire(end - start)
                position = start
                while position < end:
                    lease.keep([claimed for claimed, _ in pairs[position:]])
                    part = pairs[position : min(position + HELD_AT_ONCE, end)]
                    part_counts, handled = _hand_over_held(
                        connection, results, holds, part, audience, settings
                    )
                    counts.update(part_counts)
                    position += handled
        except BaseException:
            # The last result may still be on its way: it must reach the ledger, or its
            # message goes again once the sweep takes the row back.
            with contextlib.suppress(Exception):
                _finish(results, backoff, settings)
            raise
        else:
            _finish(results, backoff, settings)
        finally:
            connection.close()
            autocommit.close()
            holds.close()
    return counts, ""


class _Lease:
    """Renews the claim of the rows a share has yet to hand over (ledger.renew_claims) a few
    times per SENDING_TIMEOUT_SECONDS, so the sweep takes rows only from a worker gone quiet."""

    def __init__(self, settings: Settings, claimed_at: float) -> None:
        self._every = settings.SENDING_TIMEOUT_SECONDS / 4
        # The claim is the first renewal, so the next is due a quarter after it, and is checked
        # before the first message too: rendering the batch and opening the connection come
        # between, and on a loaded machine took most of the timeout (scenario 4 doubled 14
        # messages when the first renewal waited a quarter from here). Renewing before every
        # share's first message, however fresh the claim, wrote each row a third time
        # (ADR 0024).
        self._renewed = claimed_at

    def keep(self, claimed: Sequence[ledger.Claimed]) -> None:
        if time.monotonic() - self._renewed < self._every:
            return
        with session_scope() as session:
            ledger.renew_claims(session, claimed, utcnow())
        self._renewed = time.monotonic()


def _hand_over_held(
    connection: Connection,
    results: ResultWriter,
    holds: MemberHolds,
    pairs: Sequence[Pair],
    audience: Audience,
    settings: Settings,
) -> tuple[Counter[DeliveryStatus], int]:
    """Hand over the first of `pairs` under one hold, until it is due for renewal; returns the
    counts and how many of `pairs` were dealt with."""
    counts: Counter[DeliveryStatus] = Counter()
    attempts = []
    aside = []
    handled = 0
    took: list[float] = []
    try:
        with holds.holding([claimed for claimed, _ in pairs], audience) as ours:
            for claimed, message in pairs:
                if handled and ours.expired():
                    break
                handled += 1
                if claimed.id not in ours.ids:
                    aside.append(claimed)
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
    finally:  # counted once for the lot, not per message (docs/performance.md)
        metrics.count_handovers([a.result.code for a in attempts], took)
    # After the locks are released: another worker may hold the same member for another send,
    # and a hold PostgreSQL ended (holds.LOCK_LIMIT_MS) would take its writes with it.
    bounced = ledger.hard_bounces(attempts)
    if bounced or aside:
        with session_scope() as session:
            for claimed in aside:
                counts.update(ledger.set_aside_claimed(session, claimed, audience))
            if bounced:
                ledger.suppress_bounced(session, bounced)
    return counts, handled


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

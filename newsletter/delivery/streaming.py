"""A streamed fan-out: a digest run or an alert writes its rows a chunk of members at a time, in
member id order, and each chunk is committed and its rows queued at once, so the first batch
goes out after the first chunk rather than after the last (ADR 0023).

While it writes, the send's `fanout_progress_at` is when it last committed a chunk: the send
cannot be marked finished (ledger.complete_sends), however many of its rows are sent. The last
commit clears it. A run that finds its send still fanning out (a re-run, or the recovery sweep
after FANOUT_STALLED_SECONDS without a chunk) goes on after the last member written; the
unique (send, member) adds nobody twice, and a run that finds the fan-out over stops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from newsletter.db import rows_changed
from newsletter.delivery import history, ledger
from newsletter.delivery.fanout import pending_ids
from newsletter.models import Delivery, Send, utcnow

# What a fan-out calls after writing each chunk (the send, its new rows' ids), and once more,
# with no ids, when every row is written: jobs.py commits there and hands the rows to the
# workers after the commit. A caller that commits once at the end passes `in_one_go`.
Committed = Callable[[int, list[int]], None]


def in_one_go(send_id: int, delivery_ids: list[int]) -> None:
    """Commit nothing between chunks: the caller's one transaction writes the whole fan-out."""


def write_chunks(
    session: Session,
    send_id: int,
    chunks: Iterable[Sequence[int]],
    write: Callable[[Sequence[int]], list[int]],
    committed: Committed,
    *,
    exclusive: bool,
) -> int:
    """Write each chunk of members (`write` returns the new rows' ids) and commit it; then mark
    the fan-out done. Returns the rows written. `exclusive`: as history.serialise takes it
    (a digest run decides for members across articles, an alert for its one article)."""
    written = 0
    for members in chunks:
        history.serialise(session, exclusive=exclusive)
        if not still_fanning_out(session, send_id):
            return written  # another run of this fan-out has finished it
        ids = write(members)
        written += len(ids)
        committed(send_id, ids)
    fanned_out(session, send_id)
    committed(send_id, [])
    # Finished at once when nobody was due, or every row was sent while it wrote: a batch that
    # ended before the commit above could not mark it.
    ledger.complete_sends(session, utcnow(), [send_id])
    return written


def resume(session: Session, send_id: int, committed: Committed) -> int | None:
    """For a run that found its send already made: None when its fan-out is over; otherwise
    the member to go on after, once the rows the stopped run wrote are queued again (it may
    have died before it queued them; a row queued twice is claimed once)."""
    if not is_fanning_out(session, send_id):
        return None
    committed(send_id, pending_ids(session, send_id))
    last = session.scalar(select(func.max(Delivery.member_id)).where(Delivery.send_id == send_id))
    # Chunks commit whole and in order: everyone up to the last row is written (those after
    # it in its chunk, who got no row, are looked at again, which adds nobody twice).
    return last or 0


def is_fanning_out(session: Session, send_id: int) -> bool:
    return session.scalar(select(Send.fanout_progress_at).where(Send.id == send_id)) is not None


def still_fanning_out(session: Session, send_id: int) -> bool:
    """Before a chunk is written: stamp the send's progress; False when its fan-out is over.

    It is the chunk's first write: on SQLite it takes the one writer's lock before the chunk
    reads who has had what (history.serialise does that on PostgreSQL); on PostgreSQL it holds
    the send's row until the chunk commits, so another run's `fanned_out` waits for it."""
    stamped = session.execute(
        update(Send)
        .where(Send.id == send_id, Send.fanout_progress_at.is_not(None))
        .values(fanout_progress_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return rows_changed(stamped) > 0


def fanned_out(session: Session, send_id: int) -> None:
    """Every row of the send is written: from now on it can finish."""
    session.execute(
        update(Send)
        .where(Send.id == send_id)
        .values(fanout_progress_at=None)
        .execution_options(synchronize_session=False)
    )


def stalled(session: Session, before: datetime) -> list[Send]:
    """Sends (alerts and digests) whose fan-out has committed nothing since `before`: its
    process died (or is stuck), and the recovery sweep runs it again to finish it."""
    return list(
        session.scalars(select(Send).where(Send.fanout_progress_at < before).order_by(Send.id))
    )

"""Work that must wait for the transaction's commit: the one way to say "then, once committed".

A worker must never see rows that are not committed yet, and a rolled-back transaction must
leave nothing queued. So whoever writes rows and then hands them on (an article published, a
send fanned out, a member's email written) registers the hand-over here, on the session; it
runs right after the commit, in the order registered, and is forgotten on a rollback.
ADR 0018 says why this one way, and not explicit sequencing or returned lists.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_PENDING = "newsletter.after_commit.pending"
_ROLLBACK = "newsletter.after_commit.on_rollback"
_FAILED = "newsletter.after_commit.failed"


def call(session: Session, fn: Callable[..., object], *args: Any, keep_failure: str = "") -> None:
    """Run `fn(*args)` once this session's transaction commits; forget it on a rollback.

    An error raised by `fn` comes out of `commit()` (the commit itself stands), unless
    `keep_failure` is given: then the error is logged, and kept, prefixed with it, for
    `failures`, so a caller that goes on using the session (a page, an import) can say so."""
    _listen(session)
    session.info[_PENDING].append((fn, args, keep_failure))


def on_rollback(session: Session, fn: Callable[[], object]) -> None:
    """Run `fn()` if this session's transaction rolls back (state kept for the commit)."""
    _listen(session)
    session.info[_ROLLBACK].append(fn)


def failures(session: Session) -> list[str]:
    """What `keep_failure` calls could not do after this session's commits."""
    return list(session.info.get(_FAILED, []))


def _listen(session: Session) -> None:
    if _PENDING not in session.info:
        session.info[_PENDING] = []
        session.info[_ROLLBACK] = []
        event.listen(session, "after_commit", _run)
        event.listen(session, "after_rollback", _forget)


def _run(session: Session) -> None:
    pending, session.info[_PENDING] = session.info[_PENDING], []
    session.info[_ROLLBACK] = []
    for fn, args, keep_failure in pending:
        if not keep_failure:
            fn(*args)
            continue
        try:
            fn(*args)
        except Exception as exc:
            # Raising here would break the committed session; keep it for the caller instead.
            failure = f"{keep_failure}: {exc!r}"
            log.error(failure)
            session.info.setdefault(_FAILED, []).append(failure)


def _forget(session: Session) -> None:
    session.info[_PENDING] = []
    undo, session.info[_ROLLBACK] = session.info[_ROLLBACK], []
    for fn in undo:
        fn()

"""How far a send has got: counts by delivery status, and a progress bar that waits for it."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from newsletter.db import session_scope
from newsletter.models import (
    Article,
    ArticleStatus,
    ArticleTopic,
    Delivery,
    DeliveryStatus,
    Send,
    SendKind,
    SendStatus,
)

DONE = (
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.SUPPRESSED,
    DeliveryStatus.CANCELLED,
)
SETTLED_SENDS = (SendStatus.SENT, SendStatus.FAILED, SendStatus.CANCELLED, SendStatus.MISSED)
# The status `sends list` shows for an alert whose fan-out is queued but has not run yet.
QUEUED = "queued"


def delivery_counts(session: Session, send_ids: list[int]) -> dict[int, dict[str, int]]:
    """{send_id: {status: count}} with every status present, zeros included."""
    counts = {send_id: {s.value: 0 for s in DeliveryStatus} for send_id in send_ids}
    rows = session.execute(
        select(Delivery.send_id, Delivery.status, func.count())
        .where(Delivery.send_id.in_(send_ids))
        .group_by(Delivery.send_id, Delivery.status)
    )
    for send_id, status, count in rows:
        counts[send_id][DeliveryStatus(status).value] = count
    return counts


def _describe(send: Send, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": send.id,
        "kind": send.kind.value,
        "status": send.status.value,
        "key": send.key,
        "subject": send.subject,
        "scheduled_at": send.scheduled_at.isoformat() if send.scheduled_at else None,
        "started_at": send.started_at.isoformat() if send.started_at else None,
        "finished_at": send.finished_at.isoformat() if send.finished_at else None,
        "created_by": send.created_by,
        "held_until": held_until(send),
        "recipients": sum(counts.values()),
        "counts": counts,
    }


def held_until(send: Send) -> str | None:
    """ "07:00 Monday 30 November" for a send waiting for the send window to open."""
    if not send.held or send.status != SendStatus.SCHEDULED or send.scheduled_at is None:
        return None
    from zoneinfo import ZoneInfo

    from newsletter.config import get_settings
    from newsletter.send_windows import held_until_text

    return held_until_text(send.scheduled_at, ZoneInfo(get_settings().TIMEZONE))


def describe_send(session: Session, send_id: int) -> dict[str, Any] | None:
    """The send, its counts by delivery status, and the last error seen in each status."""
    send = session.get(Send, send_id)
    if send is None:
        return None
    counts = delivery_counts(session, [send_id])[send_id]
    return {**_describe(send, counts), "last_errors": last_errors(session, send_id, counts)}


def last_errors(session: Session, send_id: int, counts: dict[str, int]) -> dict[str, str]:
    """{status: the newest row's last_error} for each status holding rows with an error (a sent
    row has none): why a send is deferring, why rows failed or were set aside."""
    statuses = [s for s, n in counts.items() if n and s != DeliveryStatus.SENT.value]
    if not statuses:
        return {}
    newest = (
        select(func.max(Delivery.id))
        .where(
            Delivery.send_id == send_id,
            Delivery.status.in_(statuses),
            Delivery.last_error != "",
        )
        .group_by(Delivery.status)
    )
    rows = session.execute(
        select(Delivery.status, Delivery.last_error).where(Delivery.id.in_(newest))
    )
    found = {DeliveryStatus(status).value: error for status, error in rows}
    return {s: found[s] for s in statuses if s in found}


def alert_send_id(session: Session, article_id: int) -> int | None:
    """The article's alert send, once a worker (or --inline) has fanned it out."""
    return session.scalar(
        select(Send.id).where(Send.article_id == article_id, Send.kind == SendKind.ALERT)
    )


def queued_alerts(session: Session) -> list[dict[str, Any]]:
    """Alerts of published articles that no worker has fanned out yet: their send does not
    exist until it has, and `sends list` shows them as queued meanwhile."""
    has_topics = exists().where(
        ArticleTopic.article_id == Article.id, ArticleTopic.assigned.is_(True)
    )
    has_alert = exists().where(Send.article_id == Article.id, Send.kind == SendKind.ALERT)
    articles = session.execute(
        select(Article.id, Article.title, Article.published_at)
        .where(Article.status == ArticleStatus.PUBLISHED, has_topics, ~has_alert)
        .order_by(Article.id.desc())
    )
    return [
        {
            "id": None,
            "kind": SendKind.ALERT.value,
            "status": QUEUED,
            "key": None,
            "subject": title,
            "scheduled_at": None,
            "started_at": None,
            "finished_at": None,
            "created_by": "",
            "recipients": None,
            "counts": {s.value: 0 for s in DeliveryStatus},
            "article_id": article_id,
            "queued_at": published_at.isoformat() if published_at else None,
        }
        for article_id, title, published_at in articles
    ]


def list_sends(session: Session, limit: int = 200) -> list[dict[str, Any]]:
    sends = list(session.scalars(select(Send).order_by(Send.id.desc()).limit(limit)))
    counts = delivery_counts(session, [s.id for s in sends])
    return [_describe(send, counts[send.id]) for send in sends]


MARKING_SECONDS = 10.0


def is_settled(summary: dict[str, Any]) -> bool:
    """Nothing more will happen without a retry: finished, or only deferred rows are left."""
    if summary["status"] in SETTLED_SENDS:
        return True
    counts = summary["counts"]
    busy = counts[DeliveryStatus.PENDING.value] + counts[DeliveryStatus.SENDING.value]
    return summary["status"] == SendStatus.SENDING.value and busy == 0


def wait_for_send(
    send_id: int,
    *,
    timeout: float | None = None,
    poll_seconds: float = 0.5,
    console: Console | None = None,
) -> dict[str, Any]:
    """Show a progress bar until the send settles (or `timeout`); returns its last summary."""
    deadline = None if timeout is None else time.monotonic() + timeout
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    marking_deadline = time.monotonic() + MARKING_SECONDS
    with Progress(*columns, console=console or Console(stderr=True), transient=False) as bar:
        task = bar.add_task(f"send {send_id}", total=None)
        while True:
            with session_scope() as session:
                summary = describe_send(session, send_id)
            if summary is None:
                raise LookupError(f"there is no send {send_id}")
            counts = summary["counts"]
            done = sum(counts[s.value] for s in DONE)
            bar.update(
                task,
                total=summary["recipients"] or None,
                completed=done,
                description=_caption(summary),
            )
            if deadline is not None and time.monotonic() > deadline:
                return summary
            if is_settled(summary):
                # Every row answered but the send not yet marked: the worker is about to mark
                # it, so wait a moment rather than report "sending" with nothing left to send.
                if not _being_marked(summary) or time.monotonic() > marking_deadline:
                    return summary
            else:
                marking_deadline = time.monotonic() + MARKING_SECONDS
            time.sleep(poll_seconds)


def _being_marked(summary: dict[str, Any]) -> bool:
    counts = summary["counts"]
    return (
        summary["status"] == SendStatus.SENDING.value and not counts[DeliveryStatus.DEFERRED.value]
    )


def _caption(summary: dict[str, Any]) -> str:
    counts = summary["counts"]
    parts = [f"send {summary['id']} {summary['status']}"]
    if summary["status"] == SendStatus.SCHEDULED.value:
        parts.append(f"for {summary['scheduled_at']}")
    for status in (DeliveryStatus.SENT, DeliveryStatus.DEFERRED, DeliveryStatus.FAILED):
        if counts[status.value]:
            parts.append(f"{counts[status.value]} {status.value}")
    return ", ".join(parts)

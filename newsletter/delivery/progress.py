"""How far a send has got: counts by delivery status, as a `SendProgress` for the CLI, the web
console and the API alike. (The terminal's progress bar is the CLI's: cli/queueing.py.)"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from newsletter import recent
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


# A big send's counts are read again at most this often, however many pages watch it (ADR 0025).
COUNTS_REUSE_SECONDS = 2.0


def delivery_counts(session: Session, send_ids: list[int]) -> dict[int, dict[str, int]]:
    """{send_id: {status: count}} with every status present, zeros included; a big send's
    counts may be up to COUNTS_REUSE_SECONDS old."""
    counts: dict[int, dict[str, int]] = {}
    for send_id in send_ids:
        kept = recent.recent(session, ("delivery counts", send_id), COUNTS_REUSE_SECONDS)
        if kept is not None:
            counts[send_id] = dict(kept)
    unknown = [send_id for send_id in send_ids if send_id not in counts]
    for send_id, found in _count(session, unknown).items():
        recent.keep(session, ("delivery counts", send_id), dict(found), sum(found.values()))
        counts[send_id] = found
    return counts


def _count(session: Session, send_ids: list[int]) -> dict[int, dict[str, int]]:
    counts = {send_id: {s.value: 0 for s in DeliveryStatus} for send_id in send_ids}
    if not send_ids:
        return counts
    rows = session.execute(
        select(Delivery.send_id, Delivery.status, func.count())
        .where(Delivery.send_id.in_(send_ids))
        .group_by(Delivery.send_id, Delivery.status)
    )
    for send_id, status, count in rows:
        counts[send_id][DeliveryStatus(status).value] = count
    return counts


@dataclass(frozen=True)
class SendProgress:
    """A send (or an alert still queued for its fan-out: no id yet) and its deliveries counted
    by status (`counts`: every DeliveryStatus value, zeros included). Times are ISO 8601."""

    id: int | None
    kind: str
    status: str
    subject: str
    counts: dict[str, int]
    recipients: int | None
    key: str | None = None
    scheduled_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    created_by: str = ""
    held_until: str | None = None  # "07:00 Monday 7 December": waiting for the send window
    fanning_out: bool = False  # its fan-out is still writing rows: more recipients to come
    # describe_send only: the newest row's error in each status that has one.
    last_errors: dict[str, str] | None = None
    # queued_alerts only: the article whose alert is queued, and since when.
    article_id: int | None = None
    queued_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The fields as `sends show --json` and `sends list --json` print them."""
        shown = asdict(self)
        if self.last_errors is None:
            del shown["last_errors"]
        if self.status != QUEUED:
            del shown["article_id"], shown["queued_at"]
        return shown


def _describe(send: Send, counts: dict[str, int]) -> SendProgress:
    return SendProgress(
        id=send.id,
        kind=send.kind.value,
        status=send.status.value,
        key=send.key,
        subject=send.subject,
        scheduled_at=send.scheduled_at.isoformat() if send.scheduled_at else None,
        started_at=send.started_at.isoformat() if send.started_at else None,
        finished_at=send.finished_at.isoformat() if send.finished_at else None,
        created_by=send.created_by,
        held_until=held_until(send),
        fanning_out=send.fanout_progress_at is not None,
        recipients=sum(counts.values()),
        counts=counts,
    )


def held_until(send: Send) -> str | None:
    """ "07:00 Monday 30 November" for a send waiting for the send window to open."""
    if not send.held or send.status != SendStatus.SCHEDULED or send.scheduled_at is None:
        return None
    from zoneinfo import ZoneInfo

    from newsletter.config import get_settings
    from newsletter.send_windows import held_until_text

    return held_until_text(send.scheduled_at, ZoneInfo(get_settings().TIMEZONE))


def describe_send(session: Session, send_id: int) -> SendProgress | None:
    """The send, its counts by delivery status, and the last error seen in each status."""
    send = session.get(Send, send_id)
    if send is None:
        return None
    counts = delivery_counts(session, [send_id])[send_id]
    summary = _describe(send, counts)
    return replace(summary, last_errors=last_errors(session, send_id, counts))


def last_errors(session: Session, send_id: int, counts: dict[str, int]) -> dict[str, str]:
    """{status: the newest row's last_error} for each status holding rows with an error (a sent
    row has none): why a send is deferring, why rows failed or were set aside."""
    statuses = [s for s, n in counts.items() if n and s != DeliveryStatus.SENT.value]
    if not statuses:
        return {}
    kept = recent.recent(session, ("last errors", send_id), COUNTS_REUSE_SECONDS)
    if kept is not None:
        return dict(kept)
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
    errors = {s: found[s] for s in statuses if s in found}
    recent.keep(session, ("last errors", send_id), dict(errors), sum(counts.values()))
    return errors


def alert_send_id(session: Session, article_id: int) -> int | None:
    """The article's alert send, once a worker (or --inline) has fanned it out."""
    return session.scalar(
        select(Send.id).where(Send.article_id == article_id, Send.kind == SendKind.ALERT)
    )


def queued_alerts(session: Session) -> list[SendProgress]:
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
        SendProgress(
            id=None,
            kind=SendKind.ALERT.value,
            status=QUEUED,
            subject=title,
            counts={s.value: 0 for s in DeliveryStatus},
            recipients=None,
            article_id=article_id,
            queued_at=published_at.isoformat() if published_at else None,
        )
        for article_id, title, published_at in articles
    ]


def list_sends(session: Session, limit: int = 200) -> list[SendProgress]:
    sends = list(session.scalars(select(Send).order_by(Send.id.desc()).limit(limit)))
    counts = delivery_counts(session, [s.id for s in sends])
    return [_describe(send, counts[send.id]) for send in sends]


def is_settled(summary: SendProgress) -> bool:
    """Nothing more will happen without a retry: finished, or only deferred rows are left
    (and its fan-out has written every row)."""
    if summary.status in SETTLED_SENDS:
        return True
    if summary.fanning_out:
        return False
    busy = (
        summary.counts[DeliveryStatus.PENDING.value] + summary.counts[DeliveryStatus.SENDING.value]
    )
    return summary.status == SendStatus.SENDING.value and busy == 0


def being_marked(summary: SendProgress) -> bool:
    """Every row answered but the send not yet marked finished: a worker is about to."""
    deferred = summary.counts[DeliveryStatus.DEFERRED.value]
    return summary.status == SendStatus.SENDING.value and not deferred


def done_count(summary: SendProgress) -> int:
    """Deliveries that have their final answer."""
    return sum(summary.counts[s.value] for s in DONE)


def caption(summary: SendProgress) -> str:
    counts = summary.counts
    parts = [f"send {summary.id} {summary.status}"]
    if summary.fanning_out:
        parts.append(f"fanning out ({summary.recipients} so far)")
    if summary.status == SendStatus.SCHEDULED.value:
        parts.append(f"for {summary.scheduled_at}")
    for status in (DeliveryStatus.SENT, DeliveryStatus.DEFERRED, DeliveryStatus.FAILED):
        if counts[status.value]:
            parts.append(f"{counts[status.value]} {status.value}")
    return ", ".join(parts)

"""Chasing an urgent notice: a reminder to those sent it who have not acknowledged it, each
chase a send of its own (ledger rows, progress, retry), started by beat.

Who is chased: the notice's recipients (a sent delivery) with no acknowledgement who are still
in its audience and may receive mail now (eligibility.member_may_receive, member_in_audience:
the same rules as any send), so a member who has unsubscribed, paused or been suppressed since
is not chased.
When (chasing.next_round): `days` after the last email of the notice, `times` at most. A chase's
send key is `ack-chase:<notice>:<round>`, and (notice, round) is unique in notice_send: two beats,
or a check run again, make one chase a round. See docs/adr/0022-acknowledged-notices.md.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.orm import Session

from newsletter import after_commit, audit
from newsletter.audience import Audience
from newsletter.chasing import ChaseRule, chase_key, chase_subject, next_round
from newsletter.db import session_scope
from newsletter.delivery import jobs, ledger
from newsletter.delivery.eligibility import member_in_audience, member_may_receive
from newsletter.delivery.fanout import add_audience, create_send
from newsletter.models import (
    Acknowledgement,
    Delivery,
    DeliveryStatus,
    Member,
    NoticeSend,
    Send,
    SendKind,
    SendStatus,
    utcnow,
)

ACTOR = "beat"


def chase_due(as_of: datetime | None = None) -> list[int]:
    """Beat's check: start every chase due, then hand their deliveries to the workers."""
    with session_scope() as session:
        started = start_due_chases(session, as_of or utcnow())
        for send_id in started:
            after_commit.call(session, jobs.queue_send, send_id)
    return started


def start_due_chases(session: Session, now: datetime) -> list[int]:
    """Make each chase due at `now` (its send and deliveries); returns the new sends' ids."""
    started = []
    for notice_id, last_round, days, times, last_sent_at in _last_rounds(session):
        round_ = next_round(ChaseRule(days, times), last_round, last_sent_at, now)
        if round_ is not None:
            send_id = start_chase(session, notice_id, round_, now)
            if send_id is not None:
                started.append(send_id)
    return started


def _last_rounds(session: Session) -> list[tuple[int, int, int, int, datetime | None]]:
    """(notice, its last round, chase days, chase times, when that round started) of every
    notice that may still be chased."""
    last = (
        select(NoticeSend.notice_id, func.max(NoticeSend.round).label("round"))
        .group_by(NoticeSend.notice_id)
        .subquery()
    )
    notice = Send.__table__.alias("notice")
    rows = session.execute(
        select(
            NoticeSend.notice_id,
            NoticeSend.round,
            NoticeSend.chase_days,
            NoticeSend.chase_limit,
            Send.started_at,
        )
        .join(
            last, and_(last.c.notice_id == NoticeSend.notice_id, last.c.round == NoticeSend.round)
        )
        .join(Send, Send.id == NoticeSend.send_id)
        .join(notice, notice.c.id == NoticeSend.notice_id)
        .where(
            NoticeSend.round < NoticeSend.chase_limit,
            notice.c.status.in_([SendStatus.SENDING, SendStatus.SENT]),
        )
        .order_by(NoticeSend.notice_id)
    ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def waiting_for(notice_id: int) -> ColumnElement[bool]:
    """Correlated to Member: sent the notice, and has not acknowledged it."""
    sent = exists().where(
        Delivery.send_id == notice_id,
        Delivery.member_id == Member.id,
        Delivery.status == DeliveryStatus.SENT,
    )
    acknowledged = exists().where(
        Acknowledgement.notice_id == notice_id, Acknowledgement.member_id == Member.id
    )
    return and_(sent, ~acknowledged)


def start_chase(session: Session, notice_id: int, round_: int, now: datetime) -> int | None:
    """Round `round_` of the notice's chases, unless nobody is left to chase or another
    process made it already; returns the new send's id."""
    notice = session.get(Send, notice_id)
    place = session.get(NoticeSend, notice_id)
    assert notice is not None and place is not None
    audience = Audience.from_json(notice.audience or {})
    chased = and_(member_may_receive(), member_in_audience(audience), waiting_for(notice_id))
    if not session.scalar(select(func.count()).select_from(Member).where(chased)):
        return None
    send_id, created = create_send(
        session,
        kind=SendKind.ANNOUNCEMENT,
        key=chase_key(notice_id, round_),
        audience=audience,
        now=now,
        subject=chase_subject(notice.subject),
        body_markdown=notice.body_markdown,
        created_by=ACTOR,
    )
    if not created:
        return None
    session.add(
        NoticeSend(
            send_id=send_id,
            notice_id=notice_id,
            round=round_,
            chase_days=place.chase_days,
            chase_limit=place.chase_limit,
        )
    )
    session.flush()
    recipients = add_audience(session, send_id, audience, now, only=waiting_for(notice_id))
    ledger.complete_sends(session, now, [send_id])
    audit.record(
        session,
        ACTOR,
        "send.chase",
        "send",
        send_id,
        notice=notice_id,
        round=round_,
        recipients=recipients,
    )
    return send_id

"""Urgent notices that members acknowledge: which sends ask for it, a member's "I've read this"
(from the signed link in their email: a page with a button, then a POST), and who has and has
not acknowledged a notice, by topic and role, for the console and as CSV.

A notice's chases (delivery.chases) carry the same button; acknowledging from a chase's email
acknowledges the notice. See docs/adr/0022-acknowledged-notices.md.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter import links
from newsletter.audience import Audience
from newsletter.chasing import ChaseRule
from newsletter.config import Settings
from newsletter.db import insert_for
from newsletter.member_csv import format_time, safe_cell
from newsletter.models import (
    Acknowledgement,
    Delivery,
    DeliveryStatus,
    Member,
    NoticeSend,
    Send,
    Subscription,
    Topic,
    utcnow,
)

NO_ROLE = "(no role)"
CSV_COLUMNS = ("email", "name", "role", "topics", "acknowledged", "acknowledged_at")


class AckLinkError(ValueError):
    """An acknowledgement link that cannot be used; the message says why, to the member."""


def require_acknowledgement(session: Session, send_id: int, rule: ChaseRule) -> None:
    """Make a (scheduled) announcement an urgent notice: its emails carry the button."""
    session.add(
        NoticeSend(
            send_id=send_id,
            notice_id=send_id,
            round=0,
            chase_days=rule.days,
            chase_limit=rule.times,
        )
    )
    session.flush()


def notice_of(session: Session, send_id: int) -> NoticeSend | None:
    """The send's place among a notice's emails (round 0: the notice), or None."""
    return session.get(NoticeSend, send_id)


def carries_button(session: Session, send_id: int) -> bool:
    return notice_of(session, send_id) is not None


# --- a member's acknowledgement -------------------------------------------------------------


@dataclass(frozen=True)
class Landing:
    """What an acknowledgement link stands for, once checked."""

    member: Member
    notice: Send
    acknowledged_at: datetime | None
    just_now: bool = False


def landing(session: Session, token: str, settings: Settings) -> Landing:
    """The member and notice of a link; raises AckLinkError saying what is wrong with it."""
    member_id, send_id, version = _read(token, settings)
    place = notice_of(session, send_id)
    if place is None:
        raise AckLinkError("This link is not for a notice that asks to be acknowledged.")
    member = session.get(Member, member_id)
    if member is None or member.token_version != version:
        raise AckLinkError(
            "This link is no longer valid: the links in emails sent to this address before "
            "were replaced. Use the link in a newer email."
        )
    if not _was_sent(session, send_id, member_id):
        raise AckLinkError(
            "This link is for another member: the notice was not sent to the member it names."
        )
    notice = session.get(Send, place.notice_id)
    assert notice is not None
    acknowledged_at = session.scalar(
        select(Acknowledgement.acknowledged_at).where(
            Acknowledgement.notice_id == notice.id, Acknowledgement.member_id == member_id
        )
    )
    return Landing(member, notice, acknowledged_at)


def _read(token: str, settings: Settings) -> tuple[int, int, int]:
    try:
        return links.read_acknowledge_token(token, settings.ACK_LINK_DAYS * 86400)
    except links.BadLink as exc:
        if exc.expired:
            raise AckLinkError(
                f"This link has expired: acknowledgement links work for {settings.ACK_LINK_DAYS} "
                "days. If you still need to acknowledge the notice, contact us."
            ) from None
        raise AckLinkError(
            "This link is not valid: it was changed or copied incompletely. "
            "Use the button in the email."
        ) from None


def _was_sent(session: Session, send_id: int, member_id: int) -> bool:
    found = session.scalar(
        select(Delivery.id).where(Delivery.send_id == send_id, Delivery.member_id == member_id)
    )
    return found is not None


LinkStep = Callable[[Session, str, Settings], Landing]  # landing() or acknowledge()


def acknowledge(
    session: Session, token: str, settings: Settings, now: datetime | None = None
) -> Landing:
    """Record the member's acknowledgement of the notice (once: pressing again changes
    nothing); raises AckLinkError as landing() does."""
    found = landing(session, token, settings)
    if found.acknowledged_at is not None:
        return found
    now = now or utcnow()
    session.execute(
        insert_for(session, Acknowledgement)
        .values(notice_id=found.notice.id, member_id=found.member.id, acknowledged_at=now)
        .on_conflict_do_nothing(index_elements=["notice_id", "member_id"])
    )
    return replace(found, acknowledged_at=now, just_now=True)


# --- who has acknowledged -------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    email: str
    name: str
    role: str
    topics: list[str]
    acknowledged_at: datetime | None


@dataclass(frozen=True)
class Tally:
    name: str
    acknowledged: int = 0
    waiting: int = 0


@dataclass(frozen=True)
class ChaseView:
    round: int
    send_id: int
    started_at: datetime | None
    recipients: int


@dataclass(frozen=True)
class Report:
    notice_id: int
    subject: str
    chase_days: int
    chase_times: int
    rows: list[Row]
    by_topic: list[Tally]
    by_role: list[Tally]
    chases: list[ChaseView] = field(default_factory=list)

    @property
    def acknowledged(self) -> int:
        return sum(1 for row in self.rows if row.acknowledged_at is not None)

    @property
    def waiting(self) -> int:
        return len(self.rows) - self.acknowledged


def report(session: Session, notice_id: int) -> Report | None:
    """Every member the notice went to, acknowledged or not; None for a send that is not
    an urgent notice (a chase's report is its notice's)."""
    place = notice_of(session, notice_id)
    if place is None or place.round != 0:
        return None
    notice = session.get(Send, notice_id)
    assert notice is not None
    rows = _rows(session, notice)
    return Report(
        notice_id=notice_id,
        subject=notice.subject,
        chase_days=place.chase_days,
        chase_times=place.chase_limit,
        rows=rows,
        by_topic=_tally(rows, lambda row: row.topics),
        by_role=_tally(rows, lambda row: [row.role or NO_ROLE]),
        chases=_chases(session, notice_id),
    )


def _rows(session: Session, notice: Send) -> list[Row]:
    notice_id = notice.id
    sent = session.execute(
        select(Member.id, Member.email, Member.name, Member.role, Acknowledgement.acknowledged_at)
        .join(Delivery, Delivery.member_id == Member.id)
        .outerjoin(
            Acknowledgement,
            (Acknowledgement.member_id == Member.id) & (Acknowledgement.notice_id == notice_id),
        )
        .where(Delivery.send_id == notice_id, Delivery.status == DeliveryStatus.SENT)
        .order_by(Member.email)
    ).all()
    topics = _topics_of(session, notice)
    return [Row(email, name, role, topics[id_], at) for id_, email, name, role, at in sent]


def _topics_of(session: Session, notice: Send) -> defaultdict[int, list[str]]:
    """{member id: names of the notice's topics they follow}."""
    topic_ids = Audience.from_json(notice.audience or {}).topic_ids or ()
    pairs = session.execute(
        select(Subscription.member_id, Topic.name)
        .join(Topic, Topic.id == Subscription.topic_id)
        .join(Delivery, Delivery.member_id == Subscription.member_id)
        .where(Delivery.send_id == notice.id, Subscription.topic_id.in_(topic_ids))
        .order_by(Topic.name)
    ).all()
    topics: defaultdict[int, list[str]] = defaultdict(list)
    for member_id, name in pairs:
        topics[member_id].append(name)
    return topics


def _tally(rows: list[Row], keys_of: Callable[[Row], list[str]]) -> list[Tally]:
    acknowledged: Counter[str] = Counter()
    waiting: Counter[str] = Counter()
    for row in rows:
        counter = acknowledged if row.acknowledged_at is not None else waiting
        counter.update(keys_of(row))
    names = sorted(set(acknowledged) | set(waiting))
    return [Tally(name, acknowledged[name], waiting[name]) for name in names]


def _chases(session: Session, notice_id: int) -> list[ChaseView]:
    rows = session.execute(
        select(NoticeSend.round, Send.id, Send.started_at, func.count(Delivery.id))
        .join(Send, Send.id == NoticeSend.send_id)
        .outerjoin(Delivery, Delivery.send_id == Send.id)
        .where(NoticeSend.notice_id == notice_id, NoticeSend.round > 0)
        .group_by(NoticeSend.round, Send.id, Send.started_at)
        .order_by(NoticeSend.round)
    ).all()
    return [ChaseView(*row) for row in rows]


def report_csv(found: Report) -> str:
    """One line a member, formula-safe (member_csv.safe_cell)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in found.rows:
        at = row.acknowledged_at
        cells = [row.email, row.name, row.role, "; ".join(row.topics)]
        writer.writerow(
            [safe_cell(cell) for cell in cells]
            + ["yes" if at else "no", format_time(at) if at else ""]
        )
    return out.getvalue()

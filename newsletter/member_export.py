"""Exporting every member, their opt-outs and consent, and the suppression list, as the CSV
that newsletter.member_import reads back to the same state (newsletter.member_csv).

Statuses are written as pending, active, paused (active with a pause), unsubscribed or
bounced. A member who complained is written `unsubscribed` with the whole-list opt-out
`complaint`, which an import reads back as complained. An address on the suppression list that
is not a member is a row of its own, with status `not-a-member`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from newsletter.member_csv import NOT_A_MEMBER, PAUSED, MemberRow, Stamp, write_rows
from newsletter.models import (
    ConsentSource,
    Member,
    MemberStatus,
    OptOut,
    Suppression,
    Topic,
)


def export_members(session: Session) -> str:
    return write_rows(export_rows(session))


def export_rows(session: Session) -> list[MemberRow]:
    """Every member (by address), then the suppressed addresses that are not members."""
    slugs = dict(session.execute(select(Topic.id, Topic.slug)).all())
    topic_opt_outs: dict[int, dict[str, Stamp]] = defaultdict(dict)
    for out in session.scalars(select(OptOut)):
        topic_opt_outs[out.member_id][slugs[out.topic_id]] = Stamp(out.source.value, out.created_at)
    suppressed = {s.email: s for s in session.scalars(select(Suppression))}
    members = session.scalars(
        select(Member).options(selectinload(Member.subscriptions)).order_by(Member.email)
    )
    rows = [
        _member_row(m, slugs, topic_opt_outs.get(m.id, {}), suppressed.pop(m.email, None))
        for m in members
    ]
    rows += [
        _suppression_row(MemberRow(line=0, email=email, status=NOT_A_MEMBER), row)
        for email, row in sorted(suppressed.items())
    ]
    return rows


def _member_row(
    member: Member,
    slugs: dict[int, str],
    opted_out_topics: dict[str, Stamp],
    suppression: Suppression | None,
) -> MemberRow:
    status = member.status.value
    paused = member.status == MemberStatus.ACTIVE and member.paused
    opted_out = None
    if member.opted_out_at is not None and member.opted_out_source is not None:
        opted_out = Stamp(member.opted_out_source.value, member.opted_out_at)
    if member.status == MemberStatus.COMPLAINED:
        status = MemberStatus.UNSUBSCRIBED.value
        opted_out = Stamp(ConsentSource.COMPLAINT.value, member.opted_out_at or member.updated_at)
    row = MemberRow(
        line=0,
        email=member.email,
        name=member.name,
        role=member.role,
        topics={slugs[s.topic_id]: s.frequency for s in member.subscriptions},
        status=PAUSED if paused else status,
        paused_until=member.paused_until if paused else None,
        opted_out=opted_out,
        opted_out_topics=opted_out_topics,
        consent=member.consent_basis,
        consent_at=member.consent_at if member.consent_basis else None,
    )
    return _suppression_row(row, suppression)


def _suppression_row(row: MemberRow, suppression: Suppression | None) -> MemberRow:
    if suppression is None:
        return row
    return replace(
        row,
        suppressed=Stamp(suppression.reason.value, suppression.created_at),
        suppression_note=suppression.note,
    )

"""Importing a members CSV (newsletter.member_csv) into the database.

Every row is validated first; without `partial`, one bad row means nothing is written. Then the
rows are written in chunks, each committed within CHUNK_SECONDS, so a long import never holds
SQLite's single writer lock for long and the members' own unsubscribes get through meanwhile.

What a row asks is applied through newsletter.consent, so the members' own opt-outs stick: a
topic (or the whole list) they left is not turned back on, and the row reports "kept
unsubscribed: the member opted out on DATE via SOURCE" while the rest of it is applied. An
opt-out the file carries is always applied (it only ever stops mail).

A new member is active only when the row's `consent` column or the import's `consent_basis` says
where their consent comes from; otherwise they are pending, and each chunk queues their
confirmation email (newsletter.member_mail, sent by the workers once the chunk commits, within
the sending rate limit; ImportReport.to_confirm lists them). A row with an explicit status
restores that status (an export re-imported): active or paused still needs a stated consent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from newsletter import audit, consent, member_mail, role_defaults, suppressions
from newsletter.consent import Change, KeptUnsubscribed
from newsletter.member_csv import (
    COMPLAINED,
    NOT_A_MEMBER,
    PAUSED,
    MemberRow,
    RowError,
    read_rows,
)
from newsletter.members import set_subscriptions
from newsletter.models import (
    ConsentSource,
    Frequency,
    Member,
    MemberStatus,
    OptOut,
    Subscription,
    SuppressionReason,
    Topic,
    utcnow,
)

# A chunk's transaction ends (commits) once it has run this long...
CHUNK_SECONDS = 0.5
# ...and on SQLite the import then stands back this long, longer than SQLite's busy handler
# sleeps between two tries (100 ms), so a waiting writer (an unsubscribe) gets the lock.
SQLITE_PAUSE_SECONDS = 0.12
# Addresses are checked LOOKUP_BATCH at a time, and rows written SETTLE_ROWS at a time.
LOOKUP_BATCH = 500
SETTLE_ROWS = 20


@dataclass(frozen=True)
class RowNotice:
    """Something a row asked that was not done, with the row's line: not an error."""

    line: int
    email: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.email}: {self.message}"


@dataclass
class ImportReport:
    rows: list[MemberRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    kept: list[RowNotice] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    suppressed: int = 0
    # New members left pending (no consent stated): they are sent a confirmation email.
    to_confirm: list[int] = field(default_factory=list)
    chunks: int = 0
    written: bool = False


@dataclass(frozen=True)
class _Job:
    actor: str
    basis: str
    topic_ids: Mapping[str, int]
    role_topics: Mapping[str, Mapping[str, Frequency]]  # role_defaults.all_defaults


def import_members(
    session: Session,
    text: str,
    *,
    partial: bool = False,
    actor: str = "",
    consent_basis: str = "",
    chunk_seconds: float = CHUNK_SECONDS,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate every row, then write them in committed chunks; without partial, any bad row
    means nothing is written. `consent_basis` says where new members' consent comes from."""
    topic_ids = dict(session.execute(select(Topic.slug, Topic.id)).all())
    rows, errors = read_rows(text, set(topic_ids))
    members = existing_members(session, [row.email for row in rows])
    basis = consent_basis.strip()[:300]
    bad = {e.line: e for e in check_against_members(rows, members, basis)}
    report = ImportReport(rows=[r for r in rows if r.line not in bad])
    report.errors = sorted([*errors, *bad.values()], key=lambda e: e.line)
    if report.errors and not partial:
        return report
    job = _Job(actor or audit.cli_actor(), basis, topic_ids, role_defaults.all_defaults(session))
    done: list[_Written] = []
    report.chunks = write_in_chunks(
        session,
        report.rows,
        lambda row, member: _apply(session, row, member, job, report, done),
        lambda: _settle(session, done, job, report),
        chunk_seconds,
        progress,
    )
    report.written = True
    return report


def existing_members(session: Session, emails: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(emails), LOOKUP_BATCH):
        batch = emails[start : start + LOOKUP_BATCH]
        found.update(session.scalars(select(Member.email).where(Member.email.in_(batch))))
    return found


def check_against_members(
    rows: Iterable[MemberRow], members: set[str], basis: str
) -> list[RowError]:
    """What a row may not ask, given which addresses are members already (pure)."""
    errors = []
    for row in rows:
        new = row.email not in members
        if row.status == NOT_A_MEMBER and not new:
            reason = f"{row.email} is a member; status not-a-member is for other addresses"
            errors.append(RowError(row.line, reason))
        elif row.status in ("active", PAUSED) and new and not (row.consent or basis):
            reason = (
                f"status {row.status} for a new member needs their consent: say where it "
                "comes from in the consent column (or with --consent)"
            )
            errors.append(RowError(row.line, reason))
    return errors


def write_in_chunks(
    session: Session,
    rows: list[MemberRow],
    apply: Callable[[MemberRow, Member | None], None],
    settle: Callable[[], None],
    chunk_seconds: float,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Apply the rows SETTLE_ROWS at a time (each group's members read and locked, then
    written in one flush by settle()), committing as soon as a chunk has run chunk_seconds;
    returns the number of commits. `progress(rows done)` is called before each commit.

    A chunk reads and writes in one transaction that holds what it changes: on SQLite the
    writer lock (BEGIN IMMEDIATE), on PostgreSQL the members' rows. So a member's own change
    made meanwhile (an unsubscribe) is never overwritten by what the import read before it:
    it waits for the chunk, or the chunk reads it.
    """
    pause = SQLITE_PAUSE_SECONDS if session.get_bind().dialect.name == "sqlite" else 0.0
    commits = 0
    started = _begin_chunk(session)
    for start in range(0, len(rows), SETTLE_ROWS):
        group = rows[start : start + SETTLE_ROWS]
        members = _lock_members(session, [row.email for row in group])
        # Rows are distinct addresses: what one row looks up never depends on another's
        # unflushed changes, so the group is flushed once, by settle().
        with session.no_autoflush:
            for row in group:
                apply(row, members.get(row.email))
        settle()
        if time.monotonic() - started >= chunk_seconds and start + SETTLE_ROWS < len(rows):
            if progress is not None:
                progress(start + len(group))  # written with the chunk it counts
            session.commit()
            commits += 1
            time.sleep(pause)
            started = _begin_chunk(session)
    session.commit()
    return commits + 1


def _begin_chunk(session: Session) -> float:
    """Start a chunk's transaction; on SQLite take the writer lock before reading anything."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        if not getattr(raw, "in_transaction", True):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    return time.monotonic()


def _lock_members(session: Session, emails: list[str]) -> dict[str, Member]:
    """The members with these addresses, with their subscriptions, read (afresh) under row
    locks that last until the chunk commits (PostgreSQL; SQLite holds the whole database)."""
    ids = list(session.scalars(select(Member.id).where(Member.email.in_(emails)).with_for_update()))
    if not ids:
        return {}
    session.execute(
        select(Subscription.id).where(Subscription.member_id.in_(ids)).with_for_update()
    )
    found = session.scalars(
        select(Member)
        .where(Member.id.in_(ids))
        .options(selectinload(Member.subscriptions))
        .execution_options(populate_existing=True)
    )
    return {member.email: member for member in found}


# --- one row -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Written:
    """A row applied but not yet flushed: its audit event waits for the member's id."""

    row: MemberRow
    member: Member
    created: bool
    kept: list[str]
    confirm: bool


def _apply(
    session: Session,
    row: MemberRow,
    member: Member | None,
    job: _Job,
    report: ImportReport,
    done: list[_Written],
) -> None:
    if row.status == NOT_A_MEMBER:
        report.suppressed += _suppress(session, row, job)
        return
    created = member is None
    change = Change(ConsentSource.IMPORT, job.actor, reason=row.consent or job.basis)
    target, kept = _target_status(row, member, change)
    if member is None:
        # Its status comes last, like an existing member's: a new member is given the file's
        # topics first, and only then its opt-outs (the file's, or a complaint's).
        member = Member(email=row.email, name="", role="", subscriptions=[])
        session.add(member)
    if row.name is not None:
        member.name = row.name
    if row.role is not None:
        member.role = row.role
    if created and not row.topics:
        row = _with_role_defaults(row, member.role, job)
    kept += _apply_topics(session, member, row, change, job)
    _apply_opt_outs(session, member, row, created, job)
    was_active = not created and member.status == MemberStatus.ACTIVE
    if created or target != member.status:
        consent.set_status(session, member, target, change)
    _apply_pause(session, member, row, change)
    _apply_consent(member, row, created or (target == MemberStatus.ACTIVE and not was_active))
    report.suppressed += _suppress(session, row, job)
    report.kept += [RowNotice(row.line, row.email, one.message()) for one in kept]
    report.created += created
    report.updated += not created
    confirm = created and target == MemberStatus.PENDING and not row.status
    done.append(_Written(row, member, created, [k.message() for k in kept], confirm))


def _settle(session: Session, done: list[_Written], job: _Job, report: ImportReport) -> None:
    """One flush for the rows applied since the last, then their audit events."""
    session.flush()
    for written in done:
        audit.record(
            session,
            job.actor,
            "member.add" if written.created else "member.update",
            "member",
            written.member.id,
            email=written.row.email,
            source="import",
            line=written.row.line,
            kept_unsubscribed=written.kept,
        )
        if written.confirm:
            member_mail.queue(session, member_mail.MemberMail.CONFIRM, written.member)
            report.to_confirm.append(written.member.id)
    done.clear()


def _target_status(
    row: MemberRow, member: Member | None, change: Change
) -> tuple[MemberStatus, list[KeptUnsubscribed]]:
    """The status the row leaves the member in, and the whole-list opt-out that kept them
    from being made active."""
    asked = _asked_status(row)
    current = member.status if member is not None else None
    if asked is None:
        if current is None:
            asked = MemberStatus.ACTIVE if change.reason else MemberStatus.PENDING
        elif row.opted_out is not None and current == MemberStatus.ACTIVE:
            return MemberStatus.UNSUBSCRIBED, []  # the file says they left: it only stops mail
        else:
            return current, []
    if asked != MemberStatus.ACTIVE:
        return asked, []
    opted = _whole_list_opt_out(row, member)
    if opted is None:
        return asked, []
    stays = current if current not in (None, MemberStatus.ACTIVE) else MemberStatus.UNSUBSCRIBED
    return stays, [opted]


def _asked_status(row: MemberRow) -> MemberStatus | None:
    if not row.status:
        return None
    if row.status == PAUSED:
        return MemberStatus.ACTIVE
    complaint = row.opted_out is not None and row.opted_out.what == ConsentSource.COMPLAINT
    if row.status == COMPLAINED or (row.status == MemberStatus.UNSUBSCRIBED and complaint):
        return MemberStatus.COMPLAINED  # an export writes a complaint so (see member_export)
    return MemberStatus(row.status)


def _whole_list_opt_out(row: MemberRow, member: Member | None) -> KeptUnsubscribed | None:
    if member is not None and member.opted_out_at and member.opted_out_source:
        return KeptUnsubscribed(None, member.opted_out_at, member.opted_out_source)
    if row.opted_out is not None:
        return KeptUnsubscribed(None, row.opted_out.at, ConsentSource(row.opted_out.what))
    return None


def _with_role_defaults(row: MemberRow, role: str, job: _Job) -> MemberRow:
    """A new member's row without topics takes their role's defaults (if it has any)."""
    defaults = job.role_topics.get(role.strip().casefold())
    return replace(row, topics=dict(defaults)) if defaults else row


def _apply_topics(
    session: Session, member: Member, row: MemberRow, change: Change, job: _Job
) -> list[KeptUnsubscribed]:
    """The row's topics, less those the file or the member opted out of (reported)."""
    if row.topics is None and not row.opted_out_topics:
        return []
    slugs = {topic_id: slug for slug, topic_id in job.topic_ids.items()}
    current = {slugs[s.topic_id]: s.frequency for s in member.subscriptions}
    asked: Mapping[str, Frequency] = row.topics if row.topics is not None else current
    kept = [
        KeptUnsubscribed(slug, stamp.at, ConsentSource(stamp.what))
        for slug, stamp in sorted(row.opted_out_topics.items())
        if row.topics is not None and slug in row.topics
    ]
    wanted = {slug: f for slug, f in asked.items() if slug not in row.opted_out_topics}
    if wanted == current:
        return kept
    return kept + set_subscriptions(session, member, wanted, change, job.topic_ids)


def _apply_opt_outs(
    session: Session, member: Member, row: MemberRow, created: bool, job: _Job
) -> None:
    """Add the opt-outs the file carries, with their own source and time."""
    if row.opted_out is not None and (created or member.opted_out_at is None):
        member.opted_out_at = row.opted_out.at
        member.opted_out_source = ConsentSource(row.opted_out.what)
    if not row.opted_out_topics:
        return
    subscribed = {s.topic_id for s in member.subscriptions}
    standing = consent.opt_outs(session, member.id)
    for slug, stamp in row.opted_out_topics.items():
        topic_id = job.topic_ids[slug]
        if topic_id not in subscribed and topic_id not in standing:
            session.add(
                OptOut(
                    member=member,
                    topic_id=topic_id,
                    source=ConsentSource(stamp.what),
                    created_at=stamp.at,
                )
            )


def _apply_pause(session: Session, member: Member, row: MemberRow, change: Change) -> None:
    if member.status != MemberStatus.ACTIVE:
        return
    if row.status == PAUSED and (not member.paused or member.paused_until != row.paused_until):
        consent.set_paused(session, member, True, change, until=row.paused_until)
    elif row.status == MemberStatus.ACTIVE and member.paused:
        consent.set_paused(session, member, False, change)


def _apply_consent(member: Member, row: MemberRow, fresh: bool) -> None:
    """A new (or newly active) member's consent is the file's, with the file's time."""
    if not (fresh and row.consent):
        return
    member.consent_basis = row.consent
    member.consent_at = row.consent_at or member.consent_at or utcnow()


def _suppress(session: Session, row: MemberRow, job: _Job) -> int:
    if row.suppressed is None:
        return 0
    added = suppressions.restore_suppression(
        session,
        row.email,
        SuppressionReason(row.suppressed.what),
        row.suppression_note,
        row.suppressed.at,
        job.actor,
    )
    return int(added)


def import_summary(report: ImportReport) -> str:
    """One line saying what an import did (the CLI prints it; a background job stores it)."""
    parts = [f"Imported {len(report.rows)} rows: {report.created} new"]
    if report.to_confirm:
        parts[0] += f" ({len(report.to_confirm)} pending: asked to confirm by email)"
    parts[0] += f", {report.updated} updated"
    if report.kept:
        parts.append(f"{len(report.kept)} kept unsubscribed (the member had opted out)")
    if report.suppressed:
        parts.append(f"{report.suppressed} added to the suppression list")
    parts.append(f"{len(report.errors)} bad rows skipped.")
    return "; ".join(parts)

"""Each region's school terms in the database, and members' choices about when they get email.

Staff import a region's terms (term_dates reads and checks the file) or add and delete them in
the console. A member who pauses daily digests in school holidays is left out of the daily
digest runs on their region's holidays, and one who wants no email at weekends out of those
on Saturdays and Sundays: their watermark stays where it was, so the first run they are back
in brings everything since, once. Their weekly digest, when due on a weekend or a Monday, comes
in Monday's daily digest (weekend_rule; ADR 0021).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, and_, delete, false, or_, select
from sqlalchemy.orm import Session

from newsletter import audit
from newsletter.models import DEFAULT_REGION, Frequency, Member, SchoolTerm
from newsletter.term_dates import Term, TermError, check_terms, in_holiday, region_key

WEEKEND = (5, 6)
MONDAY = 0


@dataclass(frozen=True)
class Imported:
    region: str
    added: int
    unchanged: int  # already kept, the same days


def terms_of(session: Session, region: str) -> list[SchoolTerm]:
    return list(
        session.scalars(
            select(SchoolTerm).where(SchoolTerm.region == region).order_by(SchoolTerm.starts)
        )
    )


def regions(session: Session) -> list[str]:
    """Every region with terms, and England (the default) even before it has any."""
    kept = set(session.scalars(select(SchoolTerm.region).distinct()))
    return sorted(kept | {DEFAULT_REGION}, key=lambda r: (r != DEFAULT_REGION, r))


def terms_by_region(session: Session) -> dict[str, list[SchoolTerm]]:
    found: dict[str, list[SchoolTerm]] = {region: [] for region in regions(session)}
    for term in session.scalars(select(SchoolTerm).order_by(SchoolTerm.starts)):
        found[term.region].append(term)
    return found


def import_terms(session: Session, region: str, terms: list[Term], actor: str) -> Imported:
    """Add a region's terms, all or none: a term kept already with the same days is left as
    it is (importing a file twice adds nothing); one that overlaps a kept term is refused."""
    key = region_key(region)
    kept = terms_of(session, key)
    same = {(t.starts, t.ends) for t in kept}
    new = [t for t in terms if (t.starts, t.ends) not in same]
    check_terms(new, [Term(t.name, t.starts, t.ends) for t in kept])
    for term in new:
        session.add(SchoolTerm(region=key, name=term.name, starts=term.starts, ends=term.ends))
    session.flush()
    audit.record(session, actor, "terms.import", "region", key, added=len(new))
    return Imported(key, len(new), len(terms) - len(new))


def add_term(
    session: Session, region: str, name: str, starts: date, ends: date, actor: str
) -> SchoolTerm:
    key = region_key(region)
    term = Term(name.strip()[:200], starts, ends, "this term")
    check_terms([term], [Term(t.name, t.starts, t.ends) for t in terms_of(session, key)])
    row = SchoolTerm(region=key, name=term.name, starts=starts, ends=ends)
    session.add(row)
    session.flush()
    audit.record(session, actor, "terms.add", "school_term", row.id, region=key)
    return row


def delete_term(session: Session, term_id: int, actor: str) -> None:
    term = session.get(SchoolTerm, term_id)
    if term is None:
        raise TermError(f"there is no term {term_id}")
    session.execute(delete(SchoolTerm).where(SchoolTerm.id == term_id))
    audit.record(session, actor, "terms.delete", "school_term", term_id, region=term.region)


def holiday_regions(session: Session, day: date) -> list[str]:
    """The regions whose school holidays `day` falls in."""
    terms: dict[str, list[Term]] = defaultdict(list)
    for region, starts, ends in session.execute(
        select(SchoolTerm.region, SchoolTerm.starts, SchoolTerm.ends)
    ):
        terms[region].append(Term("", starts, ends))
    return sorted(region for region, kept in terms.items() if in_holiday(kept, day))


@dataclass(frozen=True)
class WeekendRule:
    """What a digest run on a local day does for members who want no email at weekends."""

    waits: bool  # they are left out of it (their watermark stays)
    brings_weekly: bool  # it brings their weekly digest too (Monday's daily run)


def weekend_rule(frequency: Frequency, day: date, weekly_weekday: int) -> WeekendRule:
    """A digest due on a Saturday or Sunday waits for Monday. A weekly digest due on the
    weekend or on Monday itself goes in Monday's daily digest, so that Monday brings one email
    (ADR 0021); the weekly run leaves them out on those days."""
    if day.weekday() in WEEKEND:
        return WeekendRule(waits=True, brings_weekly=False)
    if day.weekday() == MONDAY and weekly_weekday in (*WEEKEND, MONDAY):
        weekly = frequency == Frequency.WEEKLY
        return WeekendRule(waits=weekly, brings_weekly=not weekly)
    return WeekendRule(waits=False, brings_weekly=False)


def waiting_members(
    session: Session, frequency: Frequency, day: date, weekend: WeekendRule
) -> ColumnElement[bool]:
    """SQL, correlated to Member: members whose `frequency` digest due on local `day` waits
    (by `weekend`, the rule of that day, for those who want no email at weekends; a school
    holiday, for those who pause daily digests)."""
    conditions: list[ColumnElement[bool]] = []
    if weekend.waits:
        conditions.append(Member.no_weekend_email.is_(True))
    on_holiday = holiday_regions(session, day) if frequency == Frequency.DAILY else []
    if on_holiday:
        conditions.append(
            and_(Member.pause_in_holidays.is_(True), Member.school_region.in_(on_holiday))
        )
    return or_(*conditions) if conditions else false()


def weekly_brought(weekend: WeekendRule) -> ColumnElement[bool] | None:
    """SQL, correlated to Member: members whose weekly digest this daily run brings, if any."""
    return Member.no_weekend_email.is_(True) if weekend.brings_weekly else None


@dataclass(frozen=True)
class WhenChoices:
    no_weekend_email: bool
    pause_in_holidays: bool
    region: str


def set_when_choices(session: Session, member: Member, choices: WhenChoices) -> None:
    """A member's own choice of when they get digests (the manage page)."""
    key = region_key(choices.region)
    if key not in regions(session):
        raise TermError(f"there is no school calendar for {choices.region!r}")
    member.no_weekend_email = choices.no_weekend_email
    member.pause_in_holidays = choices.pause_in_holidays
    member.school_region = key
    audit.record(
        session,
        "member",
        "member.when",
        "member",
        member.id,
        no_weekend_email=choices.no_weekend_email,
        pause_in_holidays=choices.pause_in_holidays,
        region=key,
    )

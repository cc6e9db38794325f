"""Export then import into an empty database gives back the same members, statuses, pauses,
subscriptions, opt-outs, consent and suppression list: a property test over generated
populations, on SQLite and PostgreSQL.

Populations are written straight into the tables (cheap), in the states the service itself
reaches (see newsletter.consent): an active member has a stated consent and no whole-list
opt-out, a complained one has opted out via complaint, a topic opt-out is for a topic the
member no longer has. Names and notes use the characters a spreadsheet would run as a formula.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from newsletter.db import session_scope
from newsletter.member_export import export_members
from newsletter.member_import import import_members
from newsletter.models import (
    AuditEvent,
    ConsentEvent,
    ConsentSource,
    Frequency,
    Member,
    MemberStatus,
    OptOut,
    Subscription,
    Suppression,
    SuppressionReason,
    Topic,
)

TOPICS = ("assessment", "careers", "funding", "itt", "npq")
OWN = (ConsentSource.ONE_CLICK, ConsentSource.MANAGE_PAGE, ConsentSource.MAILTO)
FORMULA_TEXT = st.text(alphabet=st.sampled_from("=+-@\t\r\n'\",; aZé€"), max_size=10).map(str.strip)
TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
PREFIXES = ("", "=", "+", "-", "'=", "a.")


@st.composite
def member_state(draw: st.DrawFn, number: int) -> dict[str, Any]:
    status = draw(st.sampled_from([*MemberStatus, "paused"]))
    subscriptions = draw(st.dictionaries(st.sampled_from(TOPICS), st.sampled_from(Frequency)))
    left = [t for t in TOPICS if t not in subscriptions]
    topic_opt_outs = draw(
        st.dictionaries(st.sampled_from(left), st.tuples(st.sampled_from(OWN), TIMES))
        if left
        else st.just({})
    )
    if status in (MemberStatus.ACTIVE, "paused"):
        opted_out = None
    elif status == MemberStatus.COMPLAINED:
        opted_out = (ConsentSource.COMPLAINT, draw(TIMES))
    elif status == MemberStatus.UNSUBSCRIBED:
        opted_out = draw(st.none() | st.tuples(st.sampled_from(OWN), TIMES))
    else:
        sources = [*OWN, ConsentSource.COMPLAINT]
        opted_out = draw(st.none() | st.tuples(st.sampled_from(sources), TIMES))
    active = status in (MemberStatus.ACTIVE, "paused")
    consent = draw(FORMULA_TEXT.filter(bool) if active else FORMULA_TEXT)
    return {
        "email": f"{PREFIXES[number % len(PREFIXES)]}member{number}@example.org",
        "name": draw(FORMULA_TEXT),
        "role": draw(FORMULA_TEXT),
        "status": MemberStatus.ACTIVE if status == "paused" else MemberStatus(status),
        "paused": status == "paused",
        "paused_until": draw(st.none() | TIMES) if status == "paused" else None,
        "subscriptions": subscriptions,
        "topic_opt_outs": topic_opt_outs,
        "opted_out": opted_out,
        "consent": consent,
        "consent_at": draw(TIMES) if consent else None,
        "suppressed": draw(st.none() | suppression()),
    }


def suppression() -> st.SearchStrategy[tuple[SuppressionReason, str, datetime]]:
    return st.tuples(st.sampled_from(SuppressionReason), FORMULA_TEXT, TIMES)


@st.composite
def populations(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    count = draw(st.integers(0, 5))
    members = [draw(member_state(number)) for number in range(count)]
    others = draw(st.lists(suppression(), max_size=2))
    return members, {f"=other{n}@example.org": s for n, s in enumerate(others)}


def store(session: Session, members: list[dict[str, Any]], others: dict[str, Any]) -> None:
    ids = dict(session.execute(select(Topic.slug, Topic.id)).all())
    for state in members:
        member = Member(
            email=state["email"],
            name=state["name"],
            role=state["role"],
            status=state["status"],
            paused=state["paused"],
            paused_until=state["paused_until"],
            consent_basis=state["consent"],
            consent_at=state["consent_at"],
            opted_out_source=state["opted_out"][0] if state["opted_out"] else None,
            opted_out_at=state["opted_out"][1] if state["opted_out"] else None,
            subscriptions=[
                Subscription(topic_id=ids[slug], frequency=frequency)
                for slug, frequency in state["subscriptions"].items()
            ],
        )
        session.add(member)
        for slug, (source, at) in state["topic_opt_outs"].items():
            session.add(OptOut(member=member, topic_id=ids[slug], source=source, created_at=at))
        if state["suppressed"]:
            suppress(session, state["email"], state["suppressed"])
    for email, suppressed in others.items():
        suppress(session, email, suppressed)


def suppress(session: Session, email: str, state: tuple[SuppressionReason, str, datetime]) -> None:
    reason, note, at = state
    session.add(Suppression(email=email, reason=reason, note=note, created_at=at))


def facts(session: Session) -> tuple[dict[str, Any], dict[str, Any]]:
    slugs = dict(session.execute(select(Topic.id, Topic.slug)).all())
    opt_outs: dict[int, dict[str, Any]] = {}
    for out in session.scalars(select(OptOut)):
        opt_outs.setdefault(out.member_id, {})[slugs[out.topic_id]] = (out.source, out.created_at)
    members = {
        m.email: {
            "name": m.name,
            "role": m.role,
            "status": m.status,
            "paused": m.paused,
            "paused_until": m.paused_until,
            "consent": (m.consent_basis, m.consent_at),
            "opted_out": (m.opted_out_source, m.opted_out_at),
            "subscriptions": {slugs[s.topic_id]: s.frequency for s in m.subscriptions},
            "topic_opt_outs": opt_outs.get(m.id, {}),
        }
        for m in session.scalars(select(Member).options(selectinload(Member.subscriptions)))
    }
    suppressed = {
        s.email: (s.reason, s.note, s.created_at) for s in session.scalars(select(Suppression))
    }
    return members, suppressed


def empty(session: Session) -> None:
    for table in (AuditEvent, ConsentEvent, OptOut, Subscription, Member, Suppression):
        session.execute(delete(table))


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(population=populations())
def test_export_then_import_into_an_empty_database_gives_the_same_state(
    db_url: str, population: tuple[list[dict[str, Any]], dict[str, Any]]
) -> None:
    with session_scope(db_url) as session:
        empty(session)
        store(session, *population)
    with session_scope(db_url) as session:
        before = facts(session)
        exported = export_members(session)
        empty(session)

    with session_scope(db_url) as session:
        report = import_members(session, exported, actor="cli:test")

    assert report.errors == [] and report.kept == [] and report.to_confirm == []
    with session_scope(db_url) as session:
        assert facts(session) == before

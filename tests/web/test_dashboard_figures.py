"""The dashboard's subscriber growth, and its figures kept a while for a big association only
(ADR 0025): a small one sees every change at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from newsletter import dashboard_figures
from newsletter.models import MemberStatus
from tests.support.delivery_data import add_member
from tests.support.kept_answers import keep_from

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def weeks_ago(weeks: float) -> datetime:
    return NOW - timedelta(weeks=weeks)


def growth_of(session: Session, slug: str) -> list[int]:
    found = dashboard_figures.subscriber_growth(session, weeks=4, now=NOW)
    return next(g.weekly for g in found if g.slug == slug)


def test_growth_counts_each_weeks_subscribers_among_members_still_here(session: Session) -> None:
    add_member(session, "old@example.com", {"funding": "weekly"}, subscribed_at=weeks_ago(10))
    add_member(session, "two@example.com", {"funding": "daily"}, subscribed_at=weeks_ago(2.5))
    both = {"funding": "daily", "itt": "weekly"}
    add_member(session, "new@example.com", both, subscribed_at=weeks_ago(0.5))
    add_member(
        session,
        "gone@example.com",
        {"funding": "weekly"},
        status=MemberStatus.UNSUBSCRIBED,
        subscribed_at=weeks_ago(10),
    )
    session.commit()

    # the ends of the four weeks: 3 weeks ago, 2, 1, now
    assert growth_of(session, "funding") == [1, 2, 2, 3]
    assert growth_of(session, "itt") == [0, 0, 0, 1]
    assert growth_of(session, "npq") == [0, 0, 0, 0]
    funding = next(
        g for g in dashboard_figures.subscriber_growth(session, 4, NOW) if g.slug == "funding"
    )
    assert funding.now == 3 and funding.gained == 2


def test_a_small_associations_figures_change_at_once(session: Session) -> None:
    add_member(session, "ann@example.com", {"funding": "weekly"})
    session.commit()
    first = dashboard_figures.for_dashboard(session)
    add_member(session, "bob@example.com", {"funding": "weekly"})
    session.commit()

    assert first.members["by_status"] == {"active": 1}
    assert dashboard_figures.for_dashboard(session).members["by_status"] == {"active": 2}


def test_a_big_associations_figures_are_kept_for_a_while(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = keep_from(monkeypatch, 2)  # "big" from two members, to keep the test small
    for name in ("ann", "bob"):
        add_member(session, f"{name}@example.com", {"funding": "weekly"})
    session.commit()
    dashboard_figures.for_dashboard(session)
    add_member(session, "cat@example.com", {"funding": "weekly"})
    session.commit()

    clock.advance(dashboard_figures.FIGURES_REUSE_SECONDS - 1)
    assert dashboard_figures.for_dashboard(session).members["by_status"] == {"active": 2}
    clock.advance(1)
    assert dashboard_figures.for_dashboard(session).members["by_status"] == {"active": 3}

"""School holidays and weekends: daily digests wait for members who asked, and the first one
back brings what they missed, once; term dates are imported all or nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from newsletter import school_calendar
from newsletter.cli import app
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.delivery import alerts, jobs
from newsletter.inline import inline
from newsletter.models import Delivery, Member, Priority, SchoolTerm, Send
from newsletter.scheduling import at_local
from tests.support.delivery_data import add_article, add_member, statuses

runner = CliRunner()
LONDON = ZoneInfo("Europe/London")
TERMS = "name,starts,ends\nAutumn 1,2026-09-03,2026-10-23\nAutumn 2,2026-11-02,2026-12-18\n"
# The clocks go back on 25 October: 07:00 London is 06:00 UTC before, 07:00 UTC after.
LAST_DAY_OF_TERM = datetime(2026, 10, 23, 6, tzinfo=UTC)
FIRST_DAY_BACK = datetime(2026, 11, 2, 7, tzinfo=UTC)


def import_terms(tmp_path: Path, text: str, region: str = "england", name: str = "t.csv") -> int:
    path = tmp_path / name
    path.write_text(text)
    result = runner.invoke(app, ["calendar", "import", str(path), "--region", region])
    return result.exit_code


def kept_terms() -> list[tuple[str, str]]:
    with session_scope() as session:
        rows = session.execute(select(SchoolTerm.region, SchoolTerm.name).order_by(SchoolTerm.id))
        return [(r, n) for r, n in rows]


def digests_to(address: str, kind: str = "digest:daily:") -> dict[str, list[int]]:
    """{digest key: article ids} of the digests (daily unless `kind` says) made for `address`."""
    with session_scope() as session:
        rows = session.execute(
            select(Send.key, Delivery.content)
            .join(Send, Send.id == Delivery.send_id)
            .join(Member, Member.id == Delivery.member_id)
            .where(Member.email == address, Send.key.startswith(kind))
            .order_by(Send.key)
        )
        return {str(key): [a for _, ids in content["groups"] for a in ids] for key, content in rows}


def test_import_adds_terms_once_and_refuses_bad_files_writing_nothing(
    db_url: str, tmp_path: Path
) -> None:
    assert import_terms(tmp_path, TERMS) == 0
    assert import_terms(tmp_path, TERMS) == 0  # again: nothing added
    assert kept_terms() == [("england", "Autumn 1"), ("england", "Autumn 2")]

    backwards = "name,starts,ends\nSpring 1,2027-01-05,2027-02-12\nSpring 2,2027-04-20,2027-02-22\n"
    result = runner.invoke(app, ["calendar", "import", str(tmp_path / "x.csv")])
    assert result.exit_code == 2  # no such file
    (tmp_path / "spring.csv").write_text(backwards)
    result = runner.invoke(app, ["calendar", "import", str(tmp_path / "spring.csv")])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: spring.csv: line 3: it ends (2027-02-22) before it starts (2027-04-20); "
        "nothing imported"
    ]
    overlapping = "name,starts,ends\nSpring 1,2027-01-05,2027-02-12\nExtra,2026-12-01,2026-12-04\n"
    (tmp_path / "more.csv").write_text(overlapping)
    result = runner.invoke(app, ["calendar", "import", str(tmp_path / "more.csv")])
    assert result.exit_code == 2
    assert "line 3: it overlaps Autumn 2 kept already" in result.stderr
    assert kept_terms() == [("england", "Autumn 1"), ("england", "Autumn 2")]  # no Spring 1

    assert import_terms(tmp_path, TERMS.replace("Autumn", "Term"), "Northern Ireland") == 0
    listed = runner.invoke(app, ["calendar", "list", "--json"])
    assert '"region": "northern-ireland"' in listed.stdout


def test_half_term_pauses_daily_digests_and_the_first_day_back_brings_them_once(
    session: Session, tmp_path: Path
) -> None:
    assert import_terms(tmp_path, TERMS) == 0
    paused = add_member(session, "ann@example.com", {"funding": "daily", "npq": "immediate"})
    paused.pause_in_holidays = True
    add_member(session, "bob@example.com", {"funding": "daily"})
    wales = add_member(session, "cat@example.com", {"funding": "daily"})
    wales.pause_in_holidays, wales.school_region = True, "wales"  # Wales has no terms here
    session.commit()
    days = [at_local(date(2026, 10, 23) + timedelta(days=n), 7, LONDON) for n in range(11)]
    assert (days[0], days[-1]) == (LAST_DAY_OF_TERM, FIRST_DAY_BACK)
    articles = []
    with inline():
        for day in days:
            jobs.due_digests(day + timedelta(minutes=1))
            article = add_article(
                session, f"News {day:%d %b}", ["funding"], published_at=day + timedelta(hours=3)
            )
            session.commit()
            articles.append(article.id)
        breaking = add_article(
            session, "Closure", ["npq"], priority=Priority.BREAKING, published_at=days[4]
        )
        session.commit()
        with session_scope() as s:
            alert = alerts.fan_out_article(s, breaking.id, now=days[4])

    ann = digests_to("ann@example.com")
    # Friday 23 October (before the articles), then nothing in half term, then one back.
    assert list(ann) == ["digest:daily:2026-11-02"]
    assert ann["digest:daily:2026-11-02"] == articles[:10]
    assert len(digests_to("bob@example.com")) == 10  # every day from Saturday 24th
    assert len(digests_to("cat@example.com")) == 10
    bob = [a for ids in digests_to("bob@example.com").values() for a in ids]
    assert sorted(bob) == sorted(set(bob)) == articles[:10]
    assert alert.send_id is not None
    assert set(statuses(alert.send_id)) == {"ann@example.com"}  # alerts are never paused


def test_no_email_at_weekends_keeps_saturday_and_sunday_for_monday(session: Session) -> None:
    quiet = add_member(session, "ann@example.com", {"funding": "daily"})
    quiet.no_weekend_email = True
    add_member(session, "bob@example.com", {"funding": "daily"})
    session.commit()
    friday = datetime(2026, 12, 4, 7, tzinfo=UTC)
    articles = []
    with inline():
        for n in range(4):  # Friday to Monday
            day = friday + timedelta(days=n)
            jobs.due_digests(day + timedelta(minutes=1))
            article = add_article(
                session, f"News {n}", ["funding"], published_at=day + timedelta(hours=2)
            )
            session.commit()
            articles.append(article.id)
    ann = digests_to("ann@example.com")
    assert list(ann) == ["digest:daily:2026-12-07"]  # Friday's had nothing yet
    assert ann["digest:daily:2026-12-07"] == articles[:3]
    assert list(digests_to("bob@example.com")) == [
        "digest:daily:2026-12-05",
        "digest:daily:2026-12-06",
        "digest:daily:2026-12-07",
    ]


@pytest.mark.parametrize("weekly_day", [0, 5], ids=["weekly-on-monday", "weekly-on-saturday"])
def test_no_email_at_weekends_brings_the_daily_and_weekly_digest_in_one_monday_email(
    session: Session, monkeypatch: pytest.MonkeyPatch, weekly_day: int
) -> None:
    monkeypatch.setenv("NEWSLETTER_WEEKLY_DIGEST_WEEKDAY", str(weekly_day))
    get_settings.cache_clear()
    quiet = add_member(session, "ann@example.com", {"funding": "daily", "npq": "weekly"})
    quiet.no_weekend_email = True
    add_member(session, "bob@example.com", {"funding": "daily", "npq": "weekly"})
    session.commit()
    monday = datetime(2026, 11, 30, 7, tzinfo=UTC)
    daily, weekly = [], []
    with inline():
        for n in range(8):  # Monday to Monday; each day's news comes after its digests
            day = monday + timedelta(days=n)
            jobs.due_digests(day + timedelta(minutes=1))
            if n == 7:
                assert jobs.due_digests(day + timedelta(minutes=2)) == []  # beat asks again
                break
            at = day + timedelta(hours=2)
            daily.append(add_article(session, f"Funding {n}", ["funding"], published_at=at).id)
            weekly.append(add_article(session, f"NPQ {n}", ["npq"], published_at=at).id)
            if n == 5:  # Saturday: one article of both topics
                both = add_article(session, "Both", ["npq", "funding"], published_at=at).id
            session.commit()
    week = [f"digest:daily:2026-12-0{d}" for d in range(1, 8)]

    ann = {**digests_to("ann@example.com"), **digests_to("ann@example.com", "digest:weekly:")}
    assert list(ann) == [*week[:4], week[6]]  # nothing on Saturday or Sunday
    assert [ann[key] for key in week[:4]] == [[a] for a in daily[:4]]
    monday_email = ann[week[6]]
    assert sorted(monday_email) == sorted({*daily[4:], both, *weekly})  # each once

    bob = digests_to("bob@example.com")
    assert list(bob) == week  # unchanged: a daily digest every day ...
    assert bob[week[5]] == [daily[5], both]
    bob_weekly = digests_to("bob@example.com", "digest:weekly:")  # ... and a weekly one
    if weekly_day == 0:
        assert bob_weekly == {"digest:weekly:2026-W50": weekly}
    else:
        assert bob_weekly == {"digest:weekly:2026-W49": weekly[:5]}


def test_members_choose_only_a_region_that_has_a_calendar(session: Session) -> None:
    member = add_member(session, "ann@example.com", {"funding": "daily"})
    choices = school_calendar.WhenChoices(True, True, "Atlantis")
    try:
        school_calendar.set_when_choices(session, member, choices)
    except ValueError as exc:
        assert str(exc) == "there is no school calendar for 'Atlantis'"
    else:
        raise AssertionError("an unknown region was accepted")

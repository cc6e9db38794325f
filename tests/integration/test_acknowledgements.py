"""Urgent notices that members acknowledge, through the services on SQLite and PostgreSQL:
who is chased when, once a round, and never those who acknowledged, left or are suppressed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from newsletter import acknowledgements, consent
from newsletter.cli import app
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.delivery import chases
from newsletter.delivery.backends.memory import clear, outbox
from newsletter.inline import inline
from newsletter.members import set_subscriptions
from newsletter.models import ConsentSource, Member, MemberStatus, NoticeSend
from tests.support.delivery_data import add_member, suppress
from tests.support.notices import (
    NOTICE_AT,
    ack_path,
    chase_sends,
    parsed,
    recipients_of,
    schedule_notice,
    send_notice_inline,
    subject_of,
)

DAYS_3 = timedelta(days=3)
MEMBERS = ["ann", "bob", "cat", "dan", "eve", "fay"]


@pytest.fixture
def notice(session: Session) -> int:
    """A notice to six funding members (sent on Monday 09:00), chased 3 days apart, twice."""
    for name in MEMBERS:
        add_member(session, f"{name}@example.com", {"funding": "weekly"}, role="SENCO")
    add_member(session, "npq@example.com", {"npq": "weekly"})  # not in its audience
    session.commit()
    clear()
    notice_id = schedule_notice()
    assert send_notice_inline() == [notice_id]
    return notice_id


def acknowledge(address: str) -> None:
    """The member presses "I've read this" (the service the landing page's POST calls)."""
    message = next(parsed(m.data) for m in outbox if m.to == address)
    token = ack_path(message).rpartition("/")[2]
    with session_scope() as session:
        acknowledgements.acknowledge(session, token, get_settings())


def chase(days: float) -> list[int]:
    with inline():
        return chases.chase_due(NOTICE_AT + timedelta(days=days))


def test_the_notice_chases_only_those_who_have_not_acknowledged_after_three_days(
    notice: int,
) -> None:
    assert recipients_of(notice) == {f"{name}@example.com" for name in MEMBERS}
    acknowledge("ann@example.com")
    acknowledge("bob@example.com")

    assert chase(2.9) == []  # not yet three days
    [first] = chase(3)
    assert chase(3.1) == []  # beat asks again: the round is made already

    assert recipients_of(first) == {f"{name}@example.com" for name in MEMBERS[2:]}
    assert subject_of(first) == "Reminder: SEND register return due"
    # The chase's email carries the button too, and it acknowledges the notice.
    acknowledge("cat@example.com")  # from the notice's email
    chased_dan = [parsed(m.data) for m in outbox if m.to == "dan@example.com"][-1]
    with session_scope() as session:
        acknowledgements.acknowledge(
            session, ack_path(chased_dan).rpartition("/")[2], get_settings()
        )
        found = acknowledgements.report(session, notice)
    assert found is not None and (found.acknowledged, found.waiting) == (4, 2)

    assert chase(5.9) == []  # three days after the first chase, not after the notice
    [second] = chase(6)
    assert recipients_of(second) == {"eve@example.com", "fay@example.com"}
    assert chase(30) == []  # chased twice: no more
    assert chase_sends(notice) == [first, second]


def test_members_who_unsubscribed_paused_or_are_suppressed_are_not_chased(
    notice: int, session: Session
) -> None:
    by_member = consent.Change(ConsentSource.MANAGE_PAGE, "member", "")
    ann = session.scalar(select(Member).where(Member.email == "ann@example.com"))
    bob = session.scalar(select(Member).where(Member.email == "bob@example.com"))
    cat = session.scalar(select(Member).where(Member.email == "cat@example.com"))
    assert ann is not None and bob is not None and cat is not None
    set_subscriptions(session, ann, {}, by_member)  # left the notice's topic
    consent.set_status(session, bob, MemberStatus.UNSUBSCRIBED, by_member)
    consent.set_paused(session, cat, True, by_member)
    suppress(session, "dan@example.com")
    session.commit()

    [first] = chase(3)

    assert recipients_of(first) == {"eve@example.com", "fay@example.com"}


def test_nobody_left_to_chase_makes_no_chase(notice: int) -> None:
    for name in MEMBERS:
        acknowledge(f"{name}@example.com")
    acknowledge("ann@example.com")  # pressing again changes nothing

    assert chase(3) == [] and chase(6) == []
    with session_scope() as session:
        found = acknowledgements.report(session, notice)
    assert found is not None and (found.acknowledged, found.waiting) == (6, 0)


def test_two_beats_at_once_make_one_chase(notice: int) -> None:
    with session_scope() as first, session_scope() as second:
        made = chases.start_due_chases(first, NOTICE_AT + DAYS_3)
        first.commit()
        again = chases.start_due_chases(second, NOTICE_AT + DAYS_3 + timedelta(minutes=1))
    assert len(made) == 1 and again == []
    with session_scope() as session:
        rounds = session.scalars(select(NoticeSend.round).where(NoticeSend.notice_id == notice))
        assert sorted(rounds) == [0, 1]


def test_the_report_counts_by_topic_and_role_and_exports_formula_safe_csv(
    session: Session,
) -> None:
    add_member(session, "ann@example.com", {"funding": "weekly", "npq": "daily"}, role="SENCO")
    add_member(session, "bob@example.com", {"npq": "weekly"}, role="Phase leader")
    evil = add_member(session, "cat@example.com", {"funding": "weekly"})
    evil.name = '=HYPERLINK("http://evil.example")'
    session.commit()
    clear()
    notice = schedule_notice(topics=("funding", "npq"))
    send_notice_inline()
    acknowledge("bob@example.com")

    with session_scope() as s:
        found = acknowledgements.report(s, notice)
    assert found is not None
    by_topic = {t.name: (t.acknowledged, t.waiting) for t in found.by_topic}
    by_role = {t.name: (t.acknowledged, t.waiting) for t in found.by_role}
    assert by_topic == {"Funding": (0, 2), "NPQ": (1, 1)}
    assert by_role == {"SENCO": (0, 1), "Phase leader": (1, 0), "(no role)": (0, 1)}
    lines = acknowledgements.report_csv(found).splitlines()
    assert lines[0] == "email,name,role,topics,acknowledged,acknowledged_at"
    assert lines[1] == "ann@example.com,Ann,SENCO,Funding; NPQ,no,"
    assert lines[2].startswith("bob@example.com,Bob,Phase leader,NPQ,yes,20")
    assert lines[3] == 'cat@example.com,"\'=HYPERLINK(""http://evil.example"")",,Funding,no,'


runner = CliRunner()


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (["--chase-days", "0"], "--chase-days: the days before a chase must be at least 1 (not 0)"),
        (["--chase-days", "-2"], "the days before a chase must be at least 1 (not -2)"),
        (["--chase-times", "-1"], "--chase-times: the number of chases cannot be negative (-1)"),
    ],
)
def test_the_cli_refuses_a_chase_interval_of_zero_and_writes_nothing(
    db_url: str, tmp_path: object, options: list[str], problem: str
) -> None:
    from pathlib import Path

    body = Path(str(tmp_path)) / "notice.md"
    body.write_text("Submit the return.")
    result = runner.invoke(
        app,
        [
            "sends", "schedule", "--subject", "Return due", "--body-file", str(body),
            "--topic", "funding", "--at", "2099-01-05 09:00", "--needs-acknowledgement",
            *options,
        ],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert problem in result.stderr and "Traceback" not in result.stderr
    with session_scope() as session:
        assert session.scalar(select(NoticeSend.send_id)) is None


def test_the_cli_schedules_a_notice_and_reports_who_has_acknowledged(
    notice: int, tmp_path: object
) -> None:
    from pathlib import Path

    acknowledge("ann@example.com")
    csv_file = Path(str(tmp_path)) / "acks.csv"
    result = runner.invoke(app, ["sends", "acknowledgements", str(notice), "--csv", str(csv_file)])
    assert result.exit_code == 0, result.output
    assert f"Send {notice}: 1 acknowledged, 5 not yet; 0 of at most 2 chases." in result.stdout
    assert len(csv_file.read_text().splitlines()) == 7
    other = runner.invoke(app, ["sends", "acknowledgements", "999"])
    assert other.exit_code == 2 and "send 999 is not an urgent notice" in other.stderr

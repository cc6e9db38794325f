"""Importing members: a member's own opt-out survives a re-import (reported on its row), new
members need a stated consent to be active, every row is checked before any is written, and a
long import commits in chunks so an unsubscribe gets in meanwhile. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from newsletter import preferences
from newsletter.cli import app
from newsletter.db import session_scope
from newsletter.member_import import import_members
from newsletter.members import find_member
from newsletter.models import AuditEvent, Member, MemberStatus, Send
from tests.support.delivery_data import add_member, fan_out_breaking, statuses

runner = CliRunner()
HEADER = "email,name,role,topics\n"


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def subscriptions(db_url: str, email: str) -> dict[str, str]:
    with session_scope(db_url) as session:
        member = find_member(session, email)
        assert member is not None
        return {s: f.value for s, f in preferences.subscription_map(session, member).items()}


def one_click(db_url: str, email: str, send_id: int) -> None:
    with session_scope(db_url) as session:
        member = find_member(session, email)
        send = session.get(Send, send_id)
        assert member is not None and send is not None
        preferences.unsubscribe_from_send(session, member, send)


def test_a_one_click_unsubscribe_survives_a_reimport_that_lists_the_topic(
    db_url: str, session: Session, tmp_path: Path
) -> None:
    add_member(session, "ann@example.com", {"funding": "immediate", "npq": "weekly"})
    first_alert = fan_out_breaking(session, "Pay award")
    one_click(db_url, "ann@example.com", first_alert)
    csv_file = tmp_path / "members.csv"
    csv_file.write_text(
        HEADER
        + "bob@example.com,Bob,SENCO,funding:daily\n"
        + "ann@example.com,Ann Archer,SENCO,funding:immediate;npq:daily\n"
    )

    code, out, err = run("members", "import", str(csv_file), "--consent", "membership terms")

    assert code == 0, err  # kept unsubscribed is reported, not an error
    assert (
        f"{csv_file}:3: ann@example.com: funding: kept unsubscribed: the member opted out on "
        in out
    )
    assert "via one-click" in out
    assert "1 kept unsubscribed" in out
    assert subscriptions(db_url, "ann@example.com") == {"npq": "daily"}  # the rest applied
    next_alert = fan_out_breaking(session, "Pay award, part two")
    assert statuses(next_alert) == {"bob@example.com": "pending"}


def test_new_members_are_pending_unless_the_import_says_where_their_consent_comes_from(
    db_url: str, tmp_path: Path
) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text(HEADER + "ann@example.com,Ann,,funding:daily\n")
    with_column = tmp_path / "column.csv"
    with_column.write_text(
        "email,topics,consent\nbob@example.com,funding:daily,signed up at the conference\n"
    )

    code, out, _ = run("members", "import", str(plain))
    assert code == 0 and "1 pending: asked to confirm by email" in out
    assert run("members", "import", str(with_column))[0] == 0
    flagged = tmp_path / "flagged.csv"
    flagged.write_text(HEADER + "cat@example.com,Cat,,funding:daily\n")
    assert run("members", "import", str(flagged), "--consent", "membership terms")[0] == 0

    with session_scope(db_url) as session:
        found = {m.email: m for m in session.scalars(select(Member))}
    assert found["ann@example.com"].status == MemberStatus.PENDING
    assert found["ann@example.com"].consent_basis == ""
    assert found["bob@example.com"].status == MemberStatus.ACTIVE
    assert found["bob@example.com"].consent_basis == "signed up at the conference"
    assert found["cat@example.com"].status == MemberStatus.ACTIVE
    assert found["cat@example.com"].consent_basis == "membership terms"


def test_a_new_active_member_without_a_consent_is_a_bad_row(db_url: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "members.csv"
    csv_file.write_text("email,status\nann@example.com,active\nbob@example.com,pending\n")

    code, _, err = run("members", "import", str(csv_file))

    assert code == 1
    assert f"{csv_file}:2:" in err and "needs their consent" in err
    assert "nothing was written" in err
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 0


def test_every_row_is_checked_before_any_is_written(session: Session) -> None:
    rows = [f"m{n}@example.com,M{n},,funding:daily" for n in range(120)]
    text = HEADER + "\n".join([*rows, "not-an-address,,,"]) + "\n"

    report = import_members(session, text, consent_basis="terms", chunk_seconds=0)

    assert not report.written and [e.line for e in report.errors] == [122]
    assert session.scalar(select(func.count()).select_from(Member)) == 0


def test_each_row_is_in_the_audit_log_and_the_consent_record(session: Session) -> None:
    report = import_members(
        session,
        HEADER + "ann@example.com,Ann,,funding:daily\n",
        actor="cli:test",
        consent_basis="t",
    )
    assert report.created == 1
    member = find_member(session, "ann@example.com")
    assert member is not None
    audit = session.scalars(select(AuditEvent).where(AuditEvent.object_id == str(member.id)))
    assert [(a.actor, a.action, a.detail["line"]) for a in audit] == [("cli:test", "member.add", 2)]


def test_an_unsubscribe_gets_in_while_a_long_import_runs(db_url: str, session: Session) -> None:
    """The import commits chunk by chunk: the member's one-click, made while the import is
    still running, lands before the import reaches their row, which then reports it."""
    add_member(session, "ann@example.com", {"funding": "immediate"})
    alert = fan_out_breaking(session)
    rows = [f"new{n}@example.com,New {n},,funding:daily" for n in range(300)]
    text = HEADER + "\n".join([*rows, "ann@example.com,Ann,,funding:daily"]) + "\n"
    reports = []

    def long_import() -> None:
        with session_scope(db_url) as importing:
            reports.append(import_members(importing, text, consent_basis="t", chunk_seconds=0.05))

    importer = threading.Thread(target=long_import)
    importer.start()
    try:
        wait_for_new_members(db_url)
        one_click(db_url, "ann@example.com", alert)
    finally:
        importer.join()

    assert subscriptions(db_url, "ann@example.com") == {}
    kept = [(k.line, k.email) for k in reports[0].kept]
    assert kept == [(302, "ann@example.com")]
    assert reports[0].chunks > 1


def wait_for_new_members(db_url: str) -> None:
    """Until the import's first chunk is committed (a single transaction never shows one)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with session_scope(db_url) as reading:
            count = reading.scalar(
                select(func.count()).select_from(Member).where(Member.email.like("new%"))
            )
        if count:
            assert count < 300, "the import committed everything at once"
            return
        time.sleep(0.01)
    raise AssertionError("the import committed nothing")

"""Comms staff's scheduled sends and the digest/reminder commands, through the CLI."""

from __future__ import annotations

import email
import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.db import session_scope
from newsletter.delivery import jobs
from newsletter.delivery.backends import memory
from newsletter.inline import inline
from newsletter.models import DigestWatermark, Member, Send
from tests.support.delivery_data import add_article, add_member

runner = CliRunner()
LONDON = ZoneInfo("Europe/London")


@pytest.fixture(autouse=True)
def _empty_outbox() -> Iterator[None]:
    memory.clear()
    yield
    memory.clear()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def received() -> Counter[str]:
    return Counter(message.to for message in memory.outbox)


def local(moment: datetime) -> str:
    return moment.astimezone(LONDON).strftime("%Y-%m-%d %H:%M")


def show(send_id: int) -> dict[str, object]:
    code, out, err = run("sends", "show", str(send_id), "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def body(tmp_path: Path) -> Path:
    path = tmp_path / "body.md"
    path.write_text("# Conference\n\nBook your place **now**.\n")
    return path


@pytest.fixture
def members(session: Session) -> None:
    add_member(session, "ann@example.com", {"funding": "weekly"}, role="SENCO")
    add_member(session, "bob@example.com", {"funding": "immediate"}, role="phase leader")
    add_member(session, "cat@example.com", {"npq": "daily"}, role="SENCO")
    session.commit()


def schedule(body: Path, at: datetime, *extra: str) -> int:
    code, out, err = run(
        "sends",
        "schedule",
        "--kind",
        "announcement",
        "--subject",
        "Conference",
        "--body-file",
        str(body),
        "--topic",
        "funding",
        "--at",
        local(at),
        "--json",
        *extra,
    )
    assert code == 0, err
    return int(json.loads(out)["id"])


def start_due(now: datetime) -> jobs.announcements.DueSends:
    with inline():
        return jobs.due_sends(now)


def test_bad_schedules_are_refused_with_the_reason(db_url: str, body: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.md"
    empty.write_text("  \n")
    future = local(datetime.now(UTC) + timedelta(days=1))
    past = local(datetime.now(UTC) - timedelta(hours=1))
    base = ["sends", "schedule", "--subject", "Hi", "--topic", "funding"]

    in_past = run(*base, "--body-file", str(body), "--at", past)
    unknown = run(*base, "--body-file", str(body), "--topic", "astrology", "--at", future)
    blank = run(*base, "--body-file", str(empty), "--at", future)
    nonsense = run(*base, "--body-file", str(body), "--at", "tomorrow-ish")

    assert in_past[0] == 1 and "in the past" in in_past[2]
    assert unknown[0] == 1 and "unknown topic 'astrology'" in unknown[2]
    assert blank[0] == 1 and "the body is empty" in blank[2]
    assert nonsense[0] == 1 and "not a date and time" in nonsense[2]
    code, out, _ = run("sends", "list", "--json")
    assert code == 0 and json.loads(out) == []


def test_announcement_goes_at_its_time_not_before_to_its_topic_and_roles(
    members: None, body: Path
) -> None:
    at = datetime.now(UTC) + timedelta(hours=2)
    send_id = schedule(body, at, "--role", "senco")

    early = start_due(at - timedelta(minutes=1))
    assert early.started == [] and received() == {}
    assert show(send_id)["status"] == "scheduled"

    on_time = start_due(at + timedelta(seconds=20))
    again = start_due(at + timedelta(minutes=1))

    assert on_time.started == [send_id] and again.started == []
    assert received() == {"ann@example.com": 1}
    summary = show(send_id)
    assert summary["status"] == "sent"
    assert summary["counts"]["sent"] == 1 and summary["recipients"] == 1


def test_cancelled_send_never_goes_and_a_started_one_cannot_be_cancelled(
    members: None, body: Path
) -> None:
    at = datetime.now(UTC) + timedelta(hours=2)
    cancelled = schedule(body, at)
    started = schedule(body, at + timedelta(minutes=5))

    assert run("sends", "cancel", str(cancelled))[0] == 0
    start_due(at + timedelta(minutes=6))
    code, _, err = run("sends", "cancel", str(started))

    assert show(cancelled)["status"] == "cancelled"
    assert code == 1 and "already started" in err and "sent" in err
    assert received() == {"ann@example.com": 1, "bob@example.com": 1}  # from `started` only


def test_a_send_whose_time_passed_long_ago_is_missed_not_sent_late(
    members: None, body: Path
) -> None:
    at = datetime.now(UTC) + timedelta(hours=2)
    send_id = schedule(body, at)

    due = start_due(at + timedelta(minutes=31))  # grace is 30 minutes

    assert due.missed == [send_id] and received() == {}
    code, out, _ = run("sends", "show", str(send_id))
    assert code == 0 and "missed" in out and "sends retry" in out
    code, _, err = run("sends", "retry", str(send_id), "--inline")
    assert code == 0, err
    assert received() == {"ann@example.com": 1, "bob@example.com": 1}


def test_two_schedulers_racing_start_a_send_once(members: None, body: Path) -> None:
    at = datetime.now(UTC) + timedelta(hours=2)
    send_id = schedule(body, at)
    barrier = threading.Barrier(2)
    started: list[list[int]] = []

    def scheduler() -> None:
        barrier.wait()
        started.append(start_due(at + timedelta(seconds=5)).started)

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(started) == [[], [send_id]]
    assert received() == {"ann@example.com": 1, "bob@example.com": 1}


def test_a_test_copy_is_marked_and_not_counted(members: None, body: Path) -> None:
    send_id = schedule(body, datetime.now(UTC) + timedelta(hours=2))

    code, out, err = run("sends", "test", str(send_id), "--to", "staff@example.com")

    assert code == 0, err
    (message,) = memory.outbox
    parsed = email.message_from_bytes(message.data, policy=policy.default)
    assert message.to == "staff@example.com" and parsed["Subject"].startswith("[TEST]")
    assert show(send_id)["recipients"] == 0 and show(send_id)["status"] == "scheduled"


def test_digest_and_reminder_commands_run_once(session: Session) -> None:
    day = datetime.now(LONDON).date() - timedelta(days=3)  # --as-of must have passed
    add_member(session, "ann@example.com", {"funding": "daily"})
    add_article(
        session,
        "Funding news",
        ["funding"],
        published_at=datetime.combine(day - timedelta(days=1), time(12), LONDON),
        closes=day + timedelta(days=7),
    )
    session.commit()

    first = run("digest", "run", "--frequency", "daily", "--as-of", f"{day} 07:00", "--inline")
    second = run("digest", "run", "--frequency", "daily", "--as-of", f"{day} 09:00")
    remind = run("reminders", "run", "--as-of", f"{day} 08:00", "--inline")
    remind_again = run("reminders", "run", "--as-of", f"{day} 08:30", "--inline")
    wrong = run("digest", "run", "--frequency", "hourly")

    assert first[0] == 0 and str(day) in first[1] and "1 members" in first[1]
    assert second[0] == 0 and "already run" in second[1]
    assert remind[0] == 0 and remind_again[0] == 0 and "No reminder is due" in remind_again[1]
    assert wrong[0] == 1 and "unknown frequency" in wrong[2]
    assert received() == {"ann@example.com": 2}
    with session_scope() as s:
        keys = set(s.scalars(select(Send.key)))
    assert keys == {f"digest:daily:{day}", next(k for k in keys if k.startswith("reminder:"))}


def watermark_of(address: str) -> datetime | None:
    with session_scope() as s:
        return s.scalar(
            select(DigestWatermark.until)
            .join(Member, Member.id == DigestWatermark.member_id)
            .where(Member.email == address)
        )


def test_a_future_as_of_is_refused_and_changes_nothing(session: Session) -> None:
    add_member(session, "ann@example.com", {"funding": "daily"})
    add_article(session, "Funding news", ["funding"], closes=date.today() + timedelta(days=1))
    session.commit()
    soon = local(datetime.now(UTC) + timedelta(minutes=2))

    digest = run("digest", "run", "--frequency", "daily", "--as-of", soon, "--inline")
    remind = run("reminders", "run", "--as-of", soon, "--inline")

    for code, _, err in (digest, remind):
        assert code == 2
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert f"--as-of {soon}" in err and "still to come" in err
    with session_scope() as s:
        assert s.scalar(select(Send.id)) is None
    assert watermark_of("ann@example.com") is None and received() == {}
    # As of now, the article that a future cut-off would have buried reaches Ann.
    assert run("digest", "run", "--frequency", "daily", "--inline")[0] == 0
    assert received() == {"ann@example.com": 1}


def test_a_past_as_of_never_moves_a_watermark_back(session: Session) -> None:
    now = datetime.now(UTC)
    add_member(session, "ann@example.com", {"funding": "daily"})
    add_article(session, "Old news", ["funding"], published_at=now - timedelta(days=3))
    add_article(session, "Recent news", ["funding"], published_at=now - timedelta(hours=1))
    session.commit()

    today = run("digest", "run", "--frequency", "daily", "--inline")
    covered = watermark_of("ann@example.com")
    back = run("digest", "run", "--frequency", "daily", "--as-of", local(now - timedelta(days=2)))

    assert today[0] == 0 and "1 members" in today[1]
    assert back[0] == 0 and "0 members" in back[1]
    assert covered is not None and covered >= now
    assert watermark_of("ann@example.com") == covered
    assert received() == {"ann@example.com": 1}

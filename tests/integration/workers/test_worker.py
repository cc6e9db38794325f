"""End to end with real processes: a `celery` worker (and beat) on Redis and PostgreSQL, or on the
embedded broker and SQLite, sending to an SMTP server on 127.0.0.1."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from newsletter import dispatch
from newsletter.cli import app
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.delivery import jobs
from newsletter.delivery.announcements import cancel_send, schedule_announcement
from newsletter.models import (
    Delivery,
    Frequency,
    Member,
    MemberStatus,
    Priority,
    Send,
    SendKind,
    SendStatus,
    Suppression,
)
from tests.support import worker_env
from tests.support.delivery_data import (
    add_article,
    add_member,
    send_of,
    send_status,
    statuses,
    suppress,
)
from tests.support.servers import free_port
from tests.support.smtp_server import REJECT, SmtpTestServer
from tests.support.worker import celery_beat, celery_worker, wait_for, wait_until_idle

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

session = worker_env.session  # the fixture, on the database the worker uses


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer(defer={"bob@example.com": 1}, reject={"dan@example.com": REJECT}) as server:
        yield server


def newsroom(session: Session) -> None:
    add_member(session, "ann@example.com", {"funding": "immediate", "npq": "weekly"})
    add_member(session, "bob@example.com", {"funding": "weekly"})
    add_member(session, "cat@example.com", {"funding": "daily"})
    add_member(session, "dan@example.com", {"funding": "immediate"})
    add_member(session, "npq@example.com", {"npq": "immediate", "itt": "weekly"})
    add_member(session, "eve@example.com", {"funding": "daily"}, status=MemberStatus.UNSUBSCRIBED)
    add_member(session, "fay@example.com", {"funding": "immediate"})
    suppress(session, "fay@example.com")
    session.commit()


def test_breaking_alert_through_the_worker_reaches_each_subscriber_once(
    env: dict[str, str], session: Session, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    newsroom(session)
    article = add_article(session, "Pay award", ["funding"], priority=Priority.BREAKING)
    session.commit()

    with celery_worker(env, tmp_path / "worker.log"):
        dispatch.article_published(article.id)
        wait_for(lambda: send_of(f"alert:article:{article.id}") is not None, 60, "no send")
        send_id = send_of(f"alert:article:{article.id}")
        assert send_id is not None
        wait_for(lambda: statuses(send_id).get("dan@example.com") == "failed", 60, "no bounce")
        wait_for(lambda: statuses(send_id)["bob@example.com"] == "deferred", 60, "no 451")
        first = statuses(send_id)

        jobs.sweep(datetime.now(UTC) + timedelta(seconds=1))  # beat's recovery sweep, by hand
        wait_for(lambda: send_status(send_id) == SendStatus.SENT, 60, "send not finished")

        # Publish again, run a batch again, run a digest twice: nothing new goes out.
        dispatch.article_published(article.id)
        with session_scope() as s:
            ids = list(s.scalars(select(Delivery.id).where(Delivery.send_id == send_id)))
        dispatch.queue_deliveries(send_id, SendKind.ALERT, ids)
        as_of = datetime.now(UTC) + timedelta(minutes=1)
        jobs.digest(Frequency.WEEKLY, as_of)
        jobs.digest(Frequency.WEEKLY, as_of)
        wait_until_idle()

    assert first == {
        "ann@example.com": "sent",
        "bob@example.com": "deferred",
        "cat@example.com": "sent",
        "dan@example.com": "failed",
    }
    assert Counter(smtp.recipients()) == {
        "ann@example.com": 1,
        "bob@example.com": 1,
        "cat@example.com": 1,
    }
    assert smtp.rcpt_attempts("bob@example.com") == 2  # 451 once, then accepted
    assert statuses(send_id)["bob@example.com"] == "sent"
    with session_scope() as s:
        dan = s.scalars(select(Member).where(Member.email == "dan@example.com")).one()
        assert dan.status == MemberStatus.BOUNCED
        assert s.scalar(select(Suppression.id).where(Suppression.email == dan.email))
        assert len(list(s.scalars(select(Send.id)))) == 2  # the alert and one weekly digest


def test_daily_and_weekly_topics_of_one_article_bring_it_once_through_the_worker(
    env: dict[str, str], session: Session, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    add_member(session, "mix@example.com", {"assessment": "daily", "itt": "weekly"})
    add_article(session, "Assessment and ITT", ["assessment", "itt"])
    add_article(session, "ITT only", ["itt"])
    session.commit()

    with celery_worker(env, tmp_path / "worker.log"):
        now = datetime.now(UTC)
        jobs.digest(Frequency.DAILY, now)
        jobs.digest(Frequency.WEEKLY, now)
        smtp.wait_for(2)
        wait_until_idle()

    assert smtp.recipients() == ["mix@example.com", "mix@example.com"]
    digests = {}
    for message in smtp.messages:
        parsed = message.parsed()
        text = parsed.get_body(preferencelist=("plain",))
        assert text is not None
        digests["daily" if "daily" in parsed["Subject"] else "weekly"] = text.get_content()
    assert "Assessment and ITT" in digests["daily"] and "ITT only" not in digests["daily"]
    assert "ITT only" in digests["weekly"] and "Assessment and ITT" not in digests["weekly"]


def test_scheduled_announcement_goes_once_at_its_time_with_two_beats(
    env: dict[str, str], session: Session, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    smtp.script.defer, smtp.script.reject = {}, {}
    newsroom(session)
    at = datetime.now(UTC) + timedelta(seconds=15)

    def announce(subject: str) -> int:
        with session_scope() as s:
            return schedule_announcement(
                s,
                subject=subject,
                body_markdown="Book **now**.",
                topic_slugs=["funding"],
                roles=[],
                at=at,
                actor="test",
            ).id

    send_id = announce("Conference")
    cancelled = announce("Cancelled conference")
    with session_scope() as s:
        cancel_send(s, cancelled, "test")

    beat_a = {**env, "NEWSLETTER_VAR_DIR": str(tmp_path / "beat-a")}
    beat_b = {**env, "NEWSLETTER_VAR_DIR": str(tmp_path / "beat-b")}
    with (
        celery_worker(env, tmp_path / "worker.log", concurrency=2),
        celery_beat(beat_a, tmp_path / "beat-a.log"),
        celery_beat(beat_b, tmp_path / "beat-b.log"),
    ):
        wait_for(lambda: send_status(send_id) == SendStatus.SENT, 90, "announcement not sent")
        wait_until_idle()

    assert Counter(smtp.recipients()) == {
        "ann@example.com": 1,
        "bob@example.com": 1,
        "cat@example.com": 1,
        "dan@example.com": 1,
    }
    with session_scope() as s:
        send = s.get(Send, send_id)
        assert send is not None and send.started_at is not None and send.started_at >= at
        sent_at = list(s.scalars(select(Delivery.sent_at).where(Delivery.send_id == send_id)))
        assert all(moment is not None and moment >= at for moment in sent_at)
        assert s.scalar(select(Delivery.id).where(Delivery.send_id == cancelled)) is None
    assert send_status(cancelled) == SendStatus.CANCELLED
    for log in ("beat-a.log", "beat-b.log"):  # both beats asked; the database let one start it
        assert "Sending due task scheduled-sends" in (tmp_path / log).read_text()


def test_unreachable_smtp_defers_then_the_worker_sends_when_it_is_back(
    env: dict[str, str], session: Session, tmp_path: Path
) -> None:
    newsroom(session)
    article = add_article(session, "Pay award", ["funding"], priority=Priority.BREAKING)
    session.commit()
    port = free_port()  # nothing listens here yet
    down = {**env, "NEWSLETTER_SMTP_PORT": str(port), "NEWSLETTER_SMTP_TIMEOUT": "3"}

    with celery_worker(down, tmp_path / "worker.log"):
        dispatch.article_published(article.id)
        wait_for(lambda: send_of(f"alert:article:{article.id}") is not None, 60, "no send")
        send_id = send_of(f"alert:article:{article.id}")
        assert send_id is not None
        wait_for(lambda: set(statuses(send_id).values()) == {"deferred"}, 60, "not deferred")

        with SmtpTestServer(port=port) as back:
            jobs.sweep(datetime.now(UTC) + timedelta(seconds=1))
            wait_for(lambda: send_status(send_id) == SendStatus.SENT, 60, "not sent")

    assert sorted(back.recipients()) == [
        "ann@example.com",
        "bob@example.com",
        "cat@example.com",
        "dan@example.com",
    ]
    with session_scope() as s:
        attempts = set(s.scalars(select(Delivery.attempts).where(Delivery.send_id == send_id)))
    assert attempts == {2}


def test_embedded_broker_on_sqlite_carries_work_between_processes(
    sqlite_template: Path, smtp: SmtpTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-machine default: no broker server, the CLI and a worker share a file."""
    db_url = f"sqlite:///{tmp_path / 'newsletter.db'}"
    shutil.copy(sqlite_template, tmp_path / "newsletter.db")
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    smtp.script.defer, smtp.script.reject = {}, {}
    for name, value in smtp.env().items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    env = {"NEWSLETTER_DATABASE_URL": db_url, **smtp.env()}
    with session_scope() as s:
        newsroom(s)
        article = add_article(s, "Pay award", ["funding"], priority=Priority.BREAKING)
        article_id = article.id

    dispatch.article_published(article_id)  # queued in the broker file; no worker yet
    hint = dispatch.worker_hint()
    with celery_worker(env, tmp_path / "worker.log", concurrency=1):
        wait_for(lambda: len(smtp.recipients()) >= 4, 90, "alert not delivered")
        assert dispatch.worker_hint() is None
        with session_scope() as s:
            add_article(s, "Funding guidance", ["funding"])
        digest = CliRunner().invoke(app, ["digest", "run", "--frequency", "weekly", "--wait"])

    assert hint is not None and "newsletter worker" in hint
    assert digest.exit_code == 0, digest.stderr
    assert "sent: 1 sent, 0 deferred, 0 failed" in digest.stdout
    assert sorted(smtp.recipients()) == [
        "ann@example.com",
        "bob@example.com",
        "bob@example.com",  # bob takes funding weekly: the breaking alert, then his digest
        "cat@example.com",
        "dan@example.com",
    ]
    send_id = send_of(f"alert:article:{article_id}")
    assert send_id is not None and set(statuses(send_id).values()) == {"sent"}
    assert (Path(get_settings().VAR_DIR) / "broker.sqlite").exists()

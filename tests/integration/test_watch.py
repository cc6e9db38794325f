"""The watch finds what is wrong and admins hear of each incident once: a real beat runs it
against a stuck send and emails the admin through a real SMTP server; the dashboard shows it.
The checks themselves run on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from newsletter import incidents, watch
from newsletter.cli import app
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.delivery import alerts, ledger
from newsletter.delivery.announcements import schedule_announcement
from newsletter.incidents import Finding
from newsletter.models import (
    Delivery,
    DeliveryStatus,
    Incident,
    IncidentKind,
    Priority,
    ProcessKind,
    Send,
    SendStatus,
    StaffRole,
    Subscription,
)
from newsletter.observability.heartbeat import Heartbeat
from newsletter.staff import create_staff
from newsletter.web.app import create_app
from tests.support.delivery_data import add_article, add_member
from tests.support.smtp_server import SmtpTestServer
from tests.support.worker import newsletter_beat, use_env, wait_for
from tests.web.conftest import PASSWORD, signed_in
from tests.web.helpers import csrf_of

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # a Monday


def stuck_send(claimed_at: datetime) -> int:
    """An alert whose rows a worker took at `claimed_at` and never answered for."""
    with session_scope() as session:
        for address in ("ann@example.com", "bob@example.com"):
            add_member(session, address, {"funding": "immediate"})
        article = add_article(session, "Pay award", ["funding"], priority=Priority.BREAKING)
        article_id = article.id
    with session_scope() as session:
        send_id = alerts.fan_out_article(session, article_id).send_id
    assert send_id is not None
    with session_scope() as session:
        ids = list(session.scalars(select(Delivery.id).where(Delivery.send_id == send_id)))
        assert len(ledger.claim(session, send_id, ids, claimed_at)) == 2
    return send_id


def test_a_stuck_send_emails_the_admin_once_and_shows_on_the_dashboard(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(sqlite_template, tmp_path / "newsletter.db")
    with SmtpTestServer() as smtp:
        env = use_env(
            monkeypatch,
            {
                "NEWSLETTER_DATABASE_URL": f"sqlite:///{tmp_path / 'newsletter.db'}",
                "NEWSLETTER_VAR_DIR": str(tmp_path / "var"),
                "NEWSLETTER_SENDING_TIMEOUT_SECONDS": "60",
                "NEWSLETTER_WATCH_SECONDS": "0.5",
                "NEWSLETTER_HEARTBEAT_SECONDS": "2",
                "NEWSLETTER_LOG_FORMAT": "json",
                **smtp.env(),
            },
        )
        with session_scope() as session:
            create_staff(session, "admin@example.org", PASSWORD, StaffRole.ADMIN, actor="test")
        send_id = stuck_send(datetime.now(UTC) - timedelta(minutes=5))

        log = tmp_path / "beat.log"
        with newsletter_beat(env, log):
            smtp.wait_for(1)
            passes = log.read_text().count("watch: ")
            # Many more passes find it again; none tells anyone again.
            wait_for(lambda: log.read_text().count("watch: ") >= passes + 6, 60, "watch stopped")
            beat_alive = CliRunner().invoke(app, ["health", "beat"])
        emails = [(m.rcpt_tos, m.parsed()["Subject"]) for m in smtp.messages]

    records = [json.loads(line) for line in log.read_text().splitlines() if line]  # all JSON
    assert any(r["logger"] == "workers.operations" for r in records)
    assert beat_alive.exit_code == 0, beat_alive.output
    about_the_send = [email for email in emails if "is stuck" in email[1]]
    assert about_the_send == [
        (("admin@example.org",), f"Needs attention: alert send {send_id} “Pay award” is stuck")
    ]
    assert set(Counter(emails).values()) == {1}  # no incident (e.g. "no worker") told twice
    body = smtp.messages[[e[1] for e in emails].index(about_the_send[0][1])].parsed()
    assert "2 of its emails were taken by a worker" in body.get_body(("plain",)).get_content()

    with TestClient(create_app()) as client:
        admin = signed_in(client, "admin@example.org")
        page = admin.get("/staff").text
        assert f"alert send {send_id} “Pay award” is stuck" in page
        assert "admins were emailed" in page
        with session_scope() as session:
            incident_id = session.scalars(
                select(Incident.id).where(Incident.key == f"stuck_send:{send_id}")
            ).one()
        admin.post(
            f"/staff/admin/incidents/{incident_id}/dismiss",
            data={"csrf_token": csrf_of(page)},
        )
        assert "is stuck" not in admin.get("/staff").text


def test_the_same_incident_is_told_once_and_again_only_after_it_ended(db_url: str) -> None:
    stuck = Finding(IncidentKind.STUCK_SEND, "stuck_send:1", "send 1 is stuck")
    with session_scope() as session:
        incidents.sync(session, list(IncidentKind), [stuck], NOW)
    with session_scope() as session:
        [first] = incidents.claim_untold(session, NOW)
        assert incidents.claim_untold(session, NOW) == []  # a second watcher gets nothing
        incidents.told(session, first.id, NOW)
    with session_scope() as session:
        incidents.sync(session, list(IncidentKind), [stuck], NOW + timedelta(minutes=1))
        assert incidents.claim_untold(session, NOW + timedelta(minutes=1)) == []
        incidents.sync(session, list(IncidentKind), [], NOW + timedelta(minutes=2))  # over
        assert incidents.shown(session) == []
        incidents.sync(session, list(IncidentKind), [stuck], NOW + timedelta(minutes=3))
        [again] = incidents.claim_untold(session, NOW + timedelta(minutes=3))
    assert again.id == first.id and again.opened_at == NOW + timedelta(minutes=3)


def test_telling_fails_without_an_admin_and_is_tried_again(db_url: str) -> None:
    with session_scope() as session:
        incidents.sync(
            session, list(IncidentKind), [Finding(IncidentKind.NO_WORKER, "k", "s")], NOW
        )
        [incident] = incidents.claim_untold(session, NOW)
        incidents.told(session, incident.id, NOW, "no admin to tell")
    with session_scope() as session:
        [again] = incidents.claim_untold(session, NOW)
        assert again.notify_error == "no admin to tell"


def subscribed_since(when: datetime) -> None:
    with session_scope() as session:
        for subscription in session.scalars(select(Subscription)):
            subscription.created_at = when


def test_the_watch_finds_missed_sends_digests_not_run_and_no_worker(db_url: str) -> None:
    settings = get_settings()
    with session_scope() as session:
        add_member(session, "ann@example.com", {"funding": "daily"})
    subscribed_since(NOW - timedelta(days=3))
    with session_scope() as session:
        send = schedule_announcement(
            session,
            subject="Conference",
            body_markdown="Book now.",
            topic_slugs=["funding"],
            roles=[],
            at=NOW - timedelta(hours=2),
            actor="test",
            now=NOW - timedelta(days=1),
        )
        send.status = SendStatus.MISSED
    with session_scope() as session:
        found = {
            f.key: f for f in watch.find(session, NOW, settings, since=NOW - timedelta(hours=1))
        }
    assert set(found) == {f"missed_send:{send.id}", "digest_not_run:daily:2026-11-30", "no_worker"}
    assert "Conference" in found[f"missed_send:{send.id}"].summary
    # Before the digest's hour (07:00 London) plus the grace, nothing is missing yet.
    with session_scope() as session:
        early = watch.find(session, NOW.replace(hour=7, minute=10), settings, since=NOW)
    assert not [f for f in early if f.kind == IncidentKind.DIGEST_NOT_RUN]


def test_a_worker_heartbeat_clears_no_worker(db_url: str) -> None:
    settings = get_settings()
    Heartbeat(ProcessKind.WORKER, "worker@test-1", settings).beat()
    with session_scope() as session:
        now = datetime.now(UTC)
        assert watch.no_worker(session, now, settings, since=now - timedelta(hours=1)) == []
        later = now + timedelta(minutes=5)
        [finding] = watch.no_worker(session, later, settings, since=now - timedelta(hours=1))
    assert "last heard at" in finding.detail


def test_a_backend_refusing_everything_is_found_and_ends_when_mail_is_taken(db_url: str) -> None:
    settings = get_settings()
    send_id = stuck_send(NOW - timedelta(minutes=1))

    def refusing() -> list[Finding]:
        with session_scope() as session:
            return watch.backend_refusing(session, NOW, settings)

    with session_scope() as session:
        for row in session.scalars(select(Delivery).where(Delivery.send_id == send_id)):
            row.status, row.last_error = DeliveryStatus.DEFERRED, "421 too busy"
    assert refusing() == []  # two refusals prove nothing yet
    opened = Finding(IncidentKind.BACKEND_REFUSING, "backend_refusing", "refusing")
    with session_scope() as session:
        incidents.sync(session, list(IncidentKind), [opened], NOW)
    [finding] = refusing()  # once open, it stays open while nothing is taken
    assert "421 too busy" in finding.detail
    with session_scope() as session:
        row = session.scalars(select(Delivery).where(Delivery.send_id == send_id)).first()
        assert row is not None
        row.status = DeliveryStatus.SENT
    assert refusing() == []


def test_no_digest_is_missing_for_a_period_before_anyone_subscribed(db_url: str) -> None:
    """A service set up at noon has not missed that morning's daily digest."""
    settings = get_settings()
    with session_scope() as session:
        add_member(session, "ann@example.com", {"funding": "daily"})
    subscribed_since(NOW.replace(hour=9))  # after the 07:00 digest
    with session_scope() as session:
        assert watch.digests_not_run(session, NOW, settings) == []
    subscribed_since(NOW.replace(hour=6))
    with session_scope() as session:
        [finding] = watch.digests_not_run(session, NOW, settings)
    assert finding.key == "digest_not_run:daily:2026-11-30"


def test_the_digest_send_of_the_period_clears_digest_not_run(db_url: str) -> None:
    settings = get_settings()
    with session_scope() as session:
        add_member(session, "ann@example.com", {"funding": "daily"})
        session.add(Send(kind="digest", status=SendStatus.SENT, key="digest:daily:2026-11-30"))
    with session_scope() as session:
        assert watch.digests_not_run(session, NOW, settings) == []

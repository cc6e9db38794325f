"""One of every kind of email, as sent: the sample articles and members go through the real
pipeline (import and publish, fan-out, digest run, reminders, a scheduled announcement and its
test copy, and the public pages for subscribe, confirm and manage link), run in-process with
the memory backend, and the bytes handed to the backend are kept, one message per kind.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from newsletter import dispatch
from newsletter.articles.store import import_article
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.delivery import jobs
from newsletter.delivery.announcements import schedule_announcement, send_test
from newsletter.delivery.backends import memory
from newsletter.inline import inline
from newsletter.member_import import import_members
from newsletter.models import Frequency

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
BREAKING = "funding-condition-improvement-grants.md"
# Its closing date (in the sample) is what the reminders are about.
REMINDED_DAY = date(2026, 12, 18)
POSTAL_ADDRESS = "1 Example Street, Leeds LS1 1AA"

KINDS = (
    "alert",
    "breaking alert",
    "daily digest",
    "weekly digest",
    "7-day reminder",
    "1-day reminder",
    "announcement",
    "announcement test copy",
    "confirm",
    "welcome",
    "manage link",
)

# Who each kind is read as: a member the send reaches, so the email is theirs.
READER = {
    "alert": "daniel.wright@example.org",  # NPQ at once
    "breaking alert": "amira.hassan@example.org",  # Funding weekly: breaking reaches her too
    "daily digest": "george.evans@example.org",
    "weekly digest": "zara.ahmed@example.org",
    "7-day reminder": "oliver.hughes@example.org",
    "1-day reminder": "oliver.hughes@example.org",
    "announcement": "chloe.davies@example.org",  # "Chloë": a name that needs encoding
    "announcement test copy": "comms@example.org",
    "confirm": "new.member@example.org",
    "welcome": "new.member@example.org",
    "manage link": "niamh.oconnor@example.org",
}


def environment(monkeypatch: pytest.MonkeyPatch, database_url: str, var_dir: Path) -> None:
    for name, value in {
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_VAR_DIR": str(var_dir),
        "NEWSLETTER_EMAIL_BACKEND": "memory",
        "NEWSLETTER_POSTAL_ADDRESS": POSTAL_ADDRESS,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def send_every_kind() -> dict[str, bytes]:
    """{kind: the message as handed to the backend}; settings must point at an empty,
    migrated database with the memory backend."""
    memory.clear()
    sent: dict[str, bytes] = {}
    with inline():
        _members()
        sent["alert"] = _caught("alert", lambda: _publish("npq-spring-applications.md"))
        sent["breaking alert"] = _caught("breaking alert", lambda: _publish(BREAKING))
        for name in sorted(p.name for p in (SAMPLES / "articles").iterdir()):
            if name not in (BREAKING, "npq-spring-applications.md"):
                _publish(name)
        now = datetime.now(UTC) + timedelta(minutes=1)
        sent["daily digest"] = _caught("daily digest", lambda: jobs.digest(Frequency.DAILY, now))
        sent["weekly digest"] = _caught("weekly digest", lambda: jobs.digest(Frequency.WEEKLY, now))
        for days in (7, 1):
            sent[f"{days}-day reminder"] = _caught(f"{days}-day reminder", _reminders(days))
        send_id, at = _announcement()
        sent["announcement"] = _caught("announcement", lambda: jobs.due_sends(now=at))
        sent["announcement test copy"] = _caught(
            "announcement test copy", lambda: _test_copy(send_id)
        )
        sent |= _member_mail()
    memory.clear()
    return sent


def _members() -> None:
    with session_scope() as session:
        report = import_members(
            session,
            (SAMPLES / "members.csv").read_text(),
            actor="test",
            consent_basis="sample members",
        )
        assert not report.errors, report.errors


def _publish(name: str) -> None:
    with session_scope() as session:
        outcome = import_article(
            session,
            (SAMPLES / "articles" / name).read_text(encoding="utf-8"),
            filename=name,
            publish=True,
            breaking=name == BREAKING,
            actor="test",
        )
        article_id = outcome.article.id
    dispatch.article_published(article_id)


def _reminders(days: int) -> Callable[[], object]:
    """The reminder run just after the `days`-before reminders fall due."""
    settings = get_settings()
    day = REMINDED_DAY - timedelta(days=days)
    local = datetime.combine(day, time(settings.REMINDER_HOUR, 1), ZoneInfo(settings.TIMEZONE))
    return lambda: jobs.reminders_due(as_of=local.astimezone(UTC))


def _announcement() -> tuple[int, datetime]:
    at = (datetime.now(UTC) + timedelta(minutes=5)).replace(second=0, microsecond=0)
    with session_scope() as session:
        send = schedule_announcement(
            session,
            subject="Regional SENCO network meeting: book your place",
            body_markdown=(SAMPLES / "announcement.md").read_text(encoding="utf-8"),
            topic_slugs=["npq", "itt"],
            roles=[],
            at=at,
            actor="test",
        )
        return send.id, at


def _test_copy(send_id: int) -> None:
    with session_scope() as session:
        send_test(session, send_id, READER["announcement test copy"], get_settings())


def _member_mail() -> dict[str, bytes]:
    """Confirm, welcome and manage link, asked for through the public pages."""
    from newsletter.web.app import create_app

    sent: dict[str, bytes] = {}
    with TestClient(create_app(), base_url="http://localhost:8000") as client:
        fields = {"email": READER["confirm"], "name": "New Member", "role": "SENCO"}
        fields |= {"topic-npq": "immediate", "topic-funding": "weekly"}
        sent["confirm"] = _caught("confirm", lambda: client.post("/subscribe", data=fields))
        path = _link_path(sent["confirm"], "confirm")
        sent["welcome"] = _caught("welcome", lambda: _confirm(client, path))
        manage = {"email": READER["manage link"]}
        sent["manage link"] = _caught("manage link", lambda: client.post("/manage", data=manage))
    return sent


def _confirm(client: TestClient, path: str) -> None:
    """Press the page's button, as a browser would: its form's hidden fields, POSTed to its
    action (the page itself when none); opening the link alone confirms nothing."""
    page = client.get(path)
    form = re.search(r'<form[^>]*method="post"[^>]*>(.*?)</form>', page.text, re.S)
    assert form is not None, f"no button on {path}"
    action = re.search(r'action="([^"]*)"', form.group(0).split(">", 1)[0])
    hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(1))
    client.post(action.group(1) if action else path, data=dict(hidden))


def _link_path(data: bytes, kind: str) -> str:
    found = re.search(rf"https?://[^/\s]+(/{kind}/[A-Za-z0-9_.\-]+)", data.decode("ascii"))
    assert found, f"no /{kind}/ link"
    return found.group(1)


def _caught(kind: str, step: Callable[[], object]) -> bytes:
    """The message `step` sent to the kind's reader."""
    before = len(memory.outbox)
    step()
    mine = [m for m in memory.outbox[before:] if m.to == READER[kind]]
    assert len(mine) == 1, f"{kind}: {len(mine)} messages to {READER[kind]}"
    return mine[0].data

"""End to end with real processes: a member one-clicks out of a topic from a real alert, the
association's CSV (which still lists the topic) is imported again, and the next breaking alert
on that topic does not reach them. A real worker and SMTP server, on SQLite with the embedded
broker and on PostgreSQL with Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from newsletter import dispatch
from newsletter.cli import app
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.models import Priority
from newsletter.web.app import create_app
from tests.support.delivery_data import add_article
from tests.support.smtp_server import SmtpTestServer
from tests.support.worker import celery_worker, wait_for

CSV = (
    "email,name,role,topics\n"
    "amy@example.com,Amy,SENCO,funding:immediate;npq:weekly\n"
    "ben@example.com,Ben,SENCO,funding:immediate\n"
)


@pytest.fixture
def stack(
    request: pytest.FixtureRequest, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dict[str, str], SmtpTestServer]]:
    """Settings this process and the worker share (SQLite with the embedded broker, or
    PostgreSQL with Redis), and the SMTP server they send to."""
    values = {"NEWSLETTER_DATABASE_URL": db_url}
    if not db_url.startswith("sqlite"):
        values["NEWSLETTER_BROKER_URL"] = request.getfixturevalue("redis").url
    with SmtpTestServer() as smtp:
        values.update(smtp.env())
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield values, smtp


def publish_breaking(title: str) -> None:
    with session_scope() as session:
        article_id = add_article(session, title, ["funding"], priority=Priority.BREAKING).id
    dispatch.article_published(article_id)


def one_click(smtp: SmtpTestServer, address: str) -> int:
    """POST the RFC 8058 one-click of the alert `address` received, as a mail client does."""
    [message] = [m.parsed() for m in smtp.messages if address in m.rcpt_tos]
    https = [part.strip(" <>") for part in str(message["List-Unsubscribe"]).split(",")]
    path = urlsplit(next(link for link in https if link.startswith("http"))).path
    with TestClient(create_app(), base_url="http://localhost:8000") as client:
        answer = client.post(path, data={"List-Unsubscribe": "One-Click"})
    return answer.status_code


def test_a_one_click_survives_a_reimport_and_the_next_alert_skips_the_member(
    stack: tuple[dict[str, str], SmtpTestServer], tmp_path: Path
) -> None:
    env, smtp = stack
    csv_file = tmp_path / "members.csv"
    csv_file.write_text(CSV)
    runner = CliRunner()
    first = runner.invoke(app, ["members", "import", str(csv_file), "--consent", "terms"])
    assert first.exit_code == 0, first.stderr

    with celery_worker(env, tmp_path / "worker.log", concurrency=1):
        publish_breaking("Pay award")
        smtp.wait_for(2, timeout=90)
        assert 200 <= one_click(smtp, "amy@example.com") < 300

        again = runner.invoke(app, ["members", "import", str(csv_file), "--consent", "terms"])
        publish_breaking("Pay award, part two")
        wait_for(lambda: smtp.recipients().count("ben@example.com") == 2, 90, "no second alert")

    assert again.exit_code == 0, again.stderr
    assert f"{csv_file}:2: amy@example.com: funding: kept unsubscribed" in again.stdout
    assert "via one-click" in again.stdout
    assert sorted(smtp.recipients()) == ["amy@example.com", "ben@example.com", "ben@example.com"]

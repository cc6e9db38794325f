"""A real `newsletter worker` as operators run it: its metrics port counts a real send through a
real SMTP server (prefork pool included), and `newsletter status --json` sees each worker by a
name of its own, on the embedded default and on Redis with beat."""

from __future__ import annotations

import json
import shutil
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from newsletter import db, dispatch
from newsletter.cli import app
from newsletter.db import session_scope
from newsletter.models import Priority, Send
from tests.conftest import _postgres_copy
from tests.support.delivery_data import add_article, add_member
from tests.support.servers import PostgresServer, RedisServer, free_port
from tests.support.smtp_server import SmtpTestServer
from tests.support.worker import (
    newsletter_beat,
    newsletter_worker,
    side_by_side,
    use_env,
    wait_for,
)

HOST = socket.gethostname()


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer(defer={"bob@example.com": 1}) as server:
        yield server


def scrape(port: int) -> dict[str, float]:
    """The samples a Prometheus scrape of the port gets, by their full name and labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def status() -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(app, ["status", "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == (1 if report["problems"] else 0), result.output
    return report  # type: ignore[no-any-return]


def publish_breaking() -> int:
    """Three funding subscribers and a breaking article for them; returns the article's id."""
    with session_scope() as session:
        for address in ("ann@example.com", "bob@example.com", "cat@example.com"):
            add_member(session, address, {"funding": "immediate"})
        article = add_article(session, "Pay award", ["funding"], priority=Priority.BREAKING)
        article_id = article.id
    dispatch.article_published(article_id)
    return article_id


def send_of(article_id: int) -> int | None:
    with session_scope() as session:
        return session.scalar(select(Send.id).where(Send.key == f"alert:article:{article_id}"))


def test_worker_metrics_count_a_real_send_and_status_names_the_worker(
    sqlite_template: Path, smtp: SmtpTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(sqlite_template, tmp_path / "newsletter.db")
    env = use_env(
        monkeypatch,
        {
            "NEWSLETTER_DATABASE_URL": f"sqlite:///{tmp_path / 'newsletter.db'}",
            "NEWSLETTER_VAR_DIR": str(tmp_path / "var"),
            "NEWSLETTER_HEARTBEAT_SECONDS": "2",
            "NEWSLETTER_LOG_FORMAT": "json",
            **smtp.env(),
        },
    )
    port = free_port()
    with newsletter_worker(env, tmp_path / "worker.log", metrics_port=port) as worker:
        before = scrape(port)
        article_id = publish_breaking()
        smtp.wait_for(2)  # ann and cat; bob was deferred (451) and waits for his retry
        sent = 'newsletter_emails_total{kind="alert",outcome="sent"}'
        wait_for(lambda: scrape(port).get(sent) == 2.0, 60, "sends not counted")
        after = scrape(port)
        report = status()
        alive = CliRunner().invoke(app, ["health", "worker"])
        folder = tmp_path / "var" / "metrics" / f"worker-{worker.pid}"
        assert list(folder.glob("counter_*.db")), "pool processes count into their own files"
    assert not folder.exists(), "the worker's metric files outlive it"
    assert alive.exit_code == 0 and f"worker@{HOST}-{worker.pid}" in alive.stdout
    gone = CliRunner().invoke(app, ["health", "worker"])
    assert gone.exit_code == 1 and "no worker heartbeat" in gone.stderr
    lines = (tmp_path / "worker.log").read_text().splitlines()
    # Every line is a JSON object, but the notice Celery itself prints on shutdown.
    records = [json.loads(line) for line in lines if line and "Warm shutdown" not in line]
    batches = [r for r in records if r["message"].startswith("batch of")]
    assert batches and {r["send_id"] for r in batches} == {send_of(article_id)}
    assert {r["logger"] for r in batches} == {"newsletter.delivery.batches"}

    assert sent not in before
    assert after['newsletter_emails_total{kind="alert",outcome="deferred"}'] == 1.0
    assert after['newsletter_smtp_responses_total{class="2xx"}'] == 2.0
    assert after['newsletter_smtp_responses_total{class="4xx"}'] == 1.0
    assert after["newsletter_handover_seconds_count"] == 3.0
    assert after['newsletter_process_heartbeat_timestamp_seconds{kind="worker"}'] > 0

    [seen] = report["workers"]
    assert seen["name"] == f"worker@{HOST}-{worker.pid}" and seen["alive"]
    assert report["broker"]["embedded"] and report["broker"]["reachable"]
    assert set(report["broker"]["queues"]) == {"urgent", "fanout", "send", "schedule"}
    assert report["backend"] == {**report["backend"], "name": "smtp", "reachable": True}
    assert report["sends"]["running"] == 1  # bob's deferred copy keeps the alert going
    assert report["deliveries"]["deferred"] == 1
    assert report["digests"] == {"daily": None, "weekly": None}
    assert report["problems"] == [
        "beat has never run: no digests, reminders, scheduled sends or recovery"
    ]


@pytest.mark.postgres
@pytest.mark.redis
def test_status_on_redis_names_two_workers_and_beat(
    postgres: PostgresServer,
    postgres_template: str,
    redis: RedisServer,
    smtp: SmtpTestServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = _postgres_copy(postgres, postgres_template)
    env = use_env(
        monkeypatch,
        {
            "NEWSLETTER_DATABASE_URL": url,
            "NEWSLETTER_BROKER_URL": redis.url,
            "NEWSLETTER_HEARTBEAT_SECONDS": "2",
            **smtp.env(),
        },
    )
    with side_by_side(
        newsletter_worker(env, tmp_path / "alpha.log", name="alpha", concurrency=1),
        newsletter_worker(env, tmp_path / "beta.log", name="beta", concurrency=1),
        newsletter_beat({**env, "NEWSLETTER_VAR_DIR": str(tmp_path / "beat")}, tmp_path / "b.log"),
    ):
        wait_for(lambda: (status()["beat"] or {}).get("alive"), 60, "beat has not ticked")
        publish_breaking()
        smtp.wait_for(2)
        report = status()
    db.get_engine(url).dispose()

    workers = {worker["name"]: worker for worker in report["workers"]}
    assert set(workers) == {f"alpha@{HOST}", f"beta@{HOST}"}
    assert all(w["alive"] and w["answers_ping"] for w in workers.values())
    assert report["beat"]["name"].startswith(f"beat@{HOST}-") and report["beat"]["alive"]
    assert report["broker"]["url"] == redis.url and not report["broker"]["embedded"]
    assert report["broker"]["queues"] is not None
    assert report["problems"] == []

"""/healthz and /readyz against real servers: PostgreSQL (stopped and started again), Redis as
the broker, an SMTP server; and `newsletter serve` itself, with JSON logs and /metrics."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from newsletter import db
from newsletter.cli import app
from newsletter.config import get_settings
from newsletter.web.app import create_app
from tests.support.servers import PostgresServer, RedisServer, free_port, postgres_server
from tests.support.smtp_server import SmtpTestServer
from tests.support.worker import ROOT, child_env, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own, so that stopping it harms no other test."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def app_client(
    own_postgres: PostgresServer, redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, SmtpTestServer]]:
    url = own_postgres.url()
    db.upgrade(url)
    with SmtpTestServer() as smtp:
        for name, value in {
            "NEWSLETTER_DATABASE_URL": url,
            "NEWSLETTER_BROKER_URL": redis.url,
            **smtp.env(),
        }.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        with TestClient(create_app()) as client:
            yield client, smtp
    db.get_engine(url).dispose()


def checks_of(body: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {check["name"]: check for check in body["checks"]}


def test_readyz_checks_each_dependency_and_names_the_database_when_it_stops(
    app_client: tuple[TestClient, SmtpTestServer], own_postgres: PostgresServer
) -> None:
    client, _ = app_client
    assert client.get("/healthz").json() == {"status": "ok"}

    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    checks = checks_of(ready.json())
    assert set(checks) == {"database", "broker", "smtp"}
    assert all(check["ok"] and check["seconds"] >= 0 for check in checks.values())
    assert "at revision" in checks["database"]["detail"]

    own_postgres.stop()
    try:
        stopped = client.get("/readyz")
        assert stopped.status_code == 503
        assert stopped.json()["failing"] == ["database"]
        assert "cannot reach the database" in checks_of(stopped.json())["database"]["detail"]
        assert client.get("/healthz").status_code == 200  # alive all the same
    finally:
        own_postgres.start()
    assert client.get("/readyz").status_code == 200


def test_readyz_names_an_smtp_server_that_is_gone(
    app_client: tuple[TestClient, SmtpTestServer],
) -> None:
    client, smtp = app_client
    smtp.stop_listening()
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["failing"] == ["smtp"]
    assert f"127.0.0.1:{smtp.port}" in checks_of(answer.json())["smtp"]["detail"]


def test_serve_logs_json_lines_and_counts_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    env = {
        "NEWSLETTER_DATABASE_URL": f"sqlite:///{tmp_path}/web.db",
        "NEWSLETTER_VAR_DIR": str(tmp_path / "var"),
        "NEWSLETTER_LOG_FORMAT": "json",
    }
    db.upgrade(env["NEWSLETTER_DATABASE_URL"])
    log = tmp_path / "serve.log"
    argv = [sys.executable, "-m", "newsletter", "serve", "--port", str(port), "--workers", "2"]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=child_env(env), stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{base}/healthz"), 60, f"serve did not start ({log})")
        for _ in range(6):  # spread over both uvicorn worker processes
            _get(f"{base}/staff/login")
        metrics = _get(f"{base}/metrics")
        up = CliRunner().invoke(app, ["health", "web", "--url", f"{base}/healthz"])
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert up.exit_code == 0 and "answered 200" in up.stdout
    down = CliRunner().invoke(app, ["health", "web", "--url", f"{base}/healthz"])
    assert down.exit_code == 1 and "web:" in down.stderr
    login = 'newsletter_http_requests_total{method="GET",route="/staff/login",status="200"} 6.0'
    assert login in metrics
    assert 'newsletter_http_request_seconds_count{route="/staff/login"} 6.0' in metrics
    assert 'newsletter_deliveries{status="pending"} 0.0' in metrics  # read at scrape time
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any(r["logger"] == "uvicorn.access" and "/staff/login" in r["message"] for r in records)
    assert not list((tmp_path / "var" / "metrics").glob("web-*")), "metric files left behind"


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def _answers(url: str) -> bool:
    try:
        _get(url)
        return True
    except OSError:
        return False


def test_health_inbound_asks_the_smtp_server_on_its_port() -> None:
    with SmtpTestServer() as server:  # the inbound server is an aiosmtpd server like this one
        up = CliRunner().invoke(app, ["health", "inbound", "--port", str(server.port)])
    assert up.exit_code == 0 and "answered 250" in up.stdout
    down = CliRunner().invoke(app, ["health", "inbound", "--port", str(free_port())])
    assert down.exit_code == 1 and "inbound:" in down.stderr

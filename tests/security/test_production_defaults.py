"""Production defaults (issue 16, finding 7): production refuses settings that only suit a
developer's machine, sends HSTS, keeps staff and member pages out of every cache, and sets the
Secure cookie flag by environment (not by guessing from BASE_URL)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import get_settings
from newsletter.web.app import create_app as create_web_app
from tests.web.conftest import PASSWORD, make_staff
from tests.web.helpers import csrf_of

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "NEWSLETTER_ENVIRONMENT": "production",
    "NEWSLETTER_SECRET_KEY": "k" * 40,
    "NEWSLETTER_BASE_URL": "https://news.school-leaders.org.uk",
    "NEWSLETTER_FROM_ADDRESS": "School Leaders Network <news@school-leaders.org.uk>",
}


def serve(tmp_path: Path, **changes: str) -> subprocess.CompletedProcess[str]:
    """`newsletter serve` in production with these settings changed; what it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(GOOD, NEWSLETTER_VAR_DIR=str(tmp_path), **changes)
    env["NEWSLETTER_DATABASE_URL"] = f"sqlite:///{tmp_path}/none.db"
    return subprocess.run(
        [sys.executable, "-m", "newsletter", "serve", "--port", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NEWSLETTER_BASE_URL", "http://news.school-leaders.org.uk"),
        ("NEWSLETTER_BASE_URL", "https://localhost:8000"),
        ("NEWSLETTER_BASE_URL", "https://news.example.org"),
        ("NEWSLETTER_FROM_ADDRESS", "School Leaders Network <news@localhost>"),
        ("NEWSLETTER_FROM_ADDRESS", "news@example.com"),
        ("NEWSLETTER_SECRET_KEY", "too-short-for-production-31chars"[:31]),
    ],
)
def test_production_refuses_to_start_on_development_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    for name, good in GOOD.items():
        monkeypatch.setenv(name, good)
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and variable in lines[0], lines[0]


def test_the_real_command_stops_with_one_line(tmp_path: Path) -> None:
    result = serve(tmp_path, NEWSLETTER_BASE_URL="http://news.school-leaders.org.uk")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: NEWSLETTER_BASE_URL must be an https:// address in production "
        "(it is http://news.school-leaders.org.uk): links in emails and the sign-in cookie "
        "need TLS"
    ]
    # With good values it gets past the settings to the database, which is not there.
    result = serve(tmp_path)
    assert result.returncode == 2
    assert "NEWSLETTER_DATABASE_URL" in result.stderr, result.stderr
    for variable in ("BASE_URL", "FROM_ADDRESS", "SECRET_KEY"):
        assert f"NEWSLETTER_{variable}" not in result.stderr


@pytest.fixture
def production(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    with TestClient(create_web_app(), base_url=GOOD["NEWSLETTER_BASE_URL"]) as client:
        yield client


def sign_in(client: TestClient, db_url: str) -> str:
    """Signs in as an admin; the Set-Cookie header of the answer."""
    from newsletter.models import StaffRole

    make_staff(db_url, "admin@school-leaders.org.uk", StaffRole.ADMIN)
    page = client.get("/staff/login")
    response = client.post(
        "/staff/login",
        data={
            "email": "admin@school-leaders.org.uk",
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return response.headers["set-cookie"]


def test_production_sends_hsts_and_a_secure_cookie(production: TestClient, db_url: str) -> None:
    home = production.get("/")
    assert home.headers["strict-transport-security"].startswith("max-age=31536000")
    cookie = sign_in(production, db_url).lower()
    assert "; secure" in cookie and "httponly" in cookie


def test_development_sets_no_secure_flag_even_with_an_https_base_url(
    client: TestClient, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_BASE_URL", "https://dev.school-leaders.org.uk")
    get_settings.cache_clear()
    with TestClient(create_web_app(), base_url="http://localhost:8000") as plain:
        assert "strict-transport-security" not in plain.get("/").headers
        cookie = sign_in(plain, db_url).lower()
        # A Secure cookie would never come back over the developer's http://localhost.
        assert "; secure" not in cookie
        assert plain.get("/staff", follow_redirects=False).status_code == 200


def test_staff_and_member_pages_are_never_cached(production: TestClient, db_url: str) -> None:
    sign_in(production, db_url)
    private = ["/staff", "/staff/admin/members", "/subscribe", "/manage", "/manage/not-a-token"]
    for path in private:
        response = production.get(path, follow_redirects=False)
        assert response.headers.get("cache-control") == "no-store", path
    # The public archive may be cached: it is the same for everyone.
    for path in ["/", "/articles", "/static/style.css"]:
        response = production.get(path)
        assert "no-store" not in response.headers.get("cache-control", ""), path

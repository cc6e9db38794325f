"""A whole site for browser tests: a fresh SQLite database, a real SMTP server, and the web app
under uvicorn, all on 127.0.0.1, sharing one NEWSLETTER_* environment with the test process."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserType, Page

from newsletter import db
from newsletter.config import get_settings
from tests.support.smtp_server import SmtpTestServer
from tests.web.server import uvicorn_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
DESKTOP, PHONE = 1280, 375


@dataclass
class Site:
    url: str
    smtp: SmtpTestServer
    db_url: str
    env: dict[str, str]
    logs: Path


@contextmanager
def running_site(
    tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Site]:
    path = tmp_path / "site.db"
    shutil.copy(sqlite_template, path)
    db_url = f"sqlite:///{path}"
    with SmtpTestServer() as smtp:
        env = {
            "NEWSLETTER_DATABASE_URL": db_url,
            "NEWSLETTER_VAR_DIR": str(tmp_path / "var"),
            "NEWSLETTER_SCHEDULE_CHECK_SECONDS": "1",
            "NEWSLETTER_RETRY_BASE_SECONDS": "0",
            **smtp.env(),
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        try:
            with uvicorn_server(tmp_path / "uvicorn.log") as url:
                monkeypatch.setenv("NEWSLETTER_BASE_URL", url)  # for links made in-process
                get_settings.cache_clear()
                yield Site(url, smtp, db_url, env | {"NEWSLETTER_BASE_URL": url}, tmp_path)
        finally:
            db.dispose_engines(db_url)
            get_settings.cache_clear()
    log = (tmp_path / "uvicorn.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def launch(chromium: BrowserType) -> Browser:
    """Debian's Chromium: Playwright never downloads a browser here."""
    return chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def screenshot(page: Page, name: str) -> None:
    """A full-page screenshot in var/screenshots/, named for the page and the width."""
    width = page.viewport_size["width"] if page.viewport_size else DESKTOP
    label = "phone" if width <= PHONE else "desktop"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"web-{name}-{label}.png"), full_page=True)


def fits_the_screen(page: Page) -> bool:
    """No sideways scrolling: nothing is wider than the viewport."""
    scroll, client = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    return bool(scroll <= client)


def link_in(message: EmailMessage, kind: str) -> str:
    """The first /KIND/<token> link in an email's text part."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    found = re.search(rf"https?://\S+/{kind}/[A-Za-z0-9_.\-]+", part.get_content())
    assert found, f"no /{kind}/ link in the email"
    return found.group(0)

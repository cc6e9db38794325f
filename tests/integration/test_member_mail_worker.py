"""Members' emails with real processes: the web app under uvicorn answers without waiting for a
broker, and a real worker does what the page took (a public form's request is a job, ADR 0016)
and sends its email over real SMTP; a broker that is locked or never answers holds no page, and
what it could not take is done once the sweep finds it."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from newsletter import background_jobs
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.delivery import jobs
from newsletter.inline import inline
from newsletter.models import Delivery, DeliveryStatus, Job, JobStatus, utcnow
from tests.support.delivery_data import add_member
from tests.support.worker import celery_worker
from tests.web.site import Site, running_site

SUBSCRIBE = {"email": "ann@example.com", "topic-funding": "weekly"}
ANSWER_WITHIN = 20.0  # seconds: a page that waited for the broker would wait 30 (or forever)


@pytest.fixture
def site(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    with running_site(tmp_path, sqlite_template, monkeypatch) as running:
        yield running


@pytest.fixture
def silent_broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A "Redis" that takes connections and never answers: set before the site starts."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        url = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
        monkeypatch.setenv("NEWSLETTER_BROKER_URL", url)
        yield url


def post(site: Site, path: str, form: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{site.url}{path}", data=form, timeout=ANSWER_WITHIN)


def statuses(db_url: str) -> list[DeliveryStatus]:
    with session_scope(db_url) as session:
        return list(session.scalars(select(Delivery.status).order_by(Delivery.id)))


def waiting_requests(db_url: str) -> int:
    with session_scope(db_url) as session:
        return len(list(session.scalars(select(Job.id).where(Job.status == JobStatus.QUEUED))))


def test_a_worker_sends_what_the_page_queued_and_a_locked_broker_holds_no_page(
    site: Site, tmp_path: Path
) -> None:
    with session_scope(site.db_url) as session:
        add_member(session, "bob@example.com", {"npq": "daily"})
    with celery_worker(site.env, tmp_path / "worker.log"):
        assert post(site, "/subscribe", SUBSCRIBE).status_code == 303
        [confirm] = site.smtp.wait_for(1, timeout=60)
        assert confirm.rcpt_tos == ("ann@example.com",)
        assert "confirm" in confirm.parsed()["Subject"].lower()

        broker = sqlite3.connect(get_settings().VAR_DIR / "broker.sqlite", timeout=1)
        broker.isolation_level = None
        broker.execute("BEGIN IMMEDIATE")  # nobody else can write to the broker now
        try:
            answer = post(site, "/manage", {"email": "bob@example.com"})
            assert answer.status_code == 303  # answered while the broker is still locked
            assert statuses(site.db_url) == [DeliveryStatus.SENT]
            assert waiting_requests(site.db_url) == 1  # taken, for the worker to do
        finally:
            broker.execute("ROLLBACK")
            broker.close()
        second = site.smtp.wait_for(2, timeout=60)[1]
    assert second.rcpt_tos == ("bob@example.com",)
    assert "manage" in second.parsed()["Subject"].lower()
    assert statuses(site.db_url) == [DeliveryStatus.SENT, DeliveryStatus.SENT]


def test_a_broker_that_never_answers_holds_no_page_and_the_sweep_sends_the_email(
    silent_broker: str, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(site.db_url) as session:
        add_member(session, "bob@example.com", {"npq": "daily"})

    answers = [
        post(site, "/subscribe", SUBSCRIBE).status_code,
        post(site, "/manage", {"email": "bob@example.com"}).status_code,
        post(site, "/subscribe", {**SUBSCRIBE, "email": "cat@example.com"}).status_code,
    ]

    assert answers == [303, 303, 303]
    assert waiting_requests(site.db_url) == 3
    assert statuses(site.db_url) == [] and site.smtp.messages == []
    monkeypatch.setenv("NEWSLETTER_BROKER_URL", "embedded")  # the broker is back...
    get_settings.cache_clear()
    with inline():  # ...and beat's sweep finds the requests lost, a worker at hand
        jobs.sweep(utcnow() + background_jobs.REQUEUE_AFTER + timedelta(minutes=1))
    assert sorted(r for m in site.smtp.messages for r in m.rcpt_tos) == [
        "ann@example.com",
        "bob@example.com",
        "cat@example.com",
    ]

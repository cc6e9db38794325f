"""Members' one-click unsubscribes (RFC 8058 POSTs to the real web server), timed.

Each POST is made on a pool of client threads; the moment it started and returned and how long
it took are kept, for the scenarios to compare with what the SMTP server accepted and when.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import select

from newsletter.audience import Audience
from newsletter.db import session_scope
from newsletter.delivery.fanout import create_send
from newsletter.links import unsubscribe_url
from newsletter.models import Member, SendKind, SendStatus
from tests.faults.sends import publish_breaking, wait_until_finished
from tests.faults.sweeper import sweeping
from tests.faults.timed_web import FACTORY, FILE_VARIABLE
from tests.integration.test_worker import wait_until_idle
from tests.support.delivery_data import topic_ids
from tests.support.worker import celery_worker
from tests.web.server import uvicorn_server

ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}


def last_weeks_links(base_url: str, topic: str = "funding") -> dict[str, str]:
    """Every member's one-click link from last week's alert about `topic`, by address."""
    with session_scope() as session:
        send, _ = create_send(
            session,
            kind=SendKind.ALERT,
            key=f"alert:last-week:{topic}",
            audience=Audience(topic_ids=(topic_ids(session)[topic],)),
            status=SendStatus.SENT,
        )
        members = session.execute(select(Member.id, Member.email, Member.token_version)).all()
    return {
        email: unsubscribe_url(member_id, send, version).replace("http://localhost:8000", base_url)
        for member_id, email, version in members
    }


class OneClicks:
    """POSTs made in the background; `finish` waits for them and raises any failure."""

    def __init__(self, clients: int) -> None:
        self.links: dict[str, str] = {}
        self.started: dict[str, threading.Event] = {}
        self.returned_at: dict[str, float] = {}
        self.took: list[float] = []
        self._pool = ThreadPoolExecutor(clients)
        # A connection per POST: a kept-alive one that the server closes as idle (after 5 s,
        # uvicorn's default) just as a POST reuses it is reset, and the POST fails.
        self._client = httpx.Client(timeout=60, limits=httpx.Limits(max_keepalive_connections=0))
        self._futures: list[Future[None]] = []
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """One GET of an unsubscribe page, so the first POSTs do not time the app's start."""
        answer = self._client.get(next(iter(self.links.values())))
        assert answer.status_code == 200, answer.text[:300]

    def post(self, address: str) -> threading.Event:
        """Unsubscribe `address` in the background; the event is set when its POST starts."""
        with self._lock:
            started = self.started.setdefault(address, threading.Event())
            self._futures.append(self._pool.submit(self._post, address, started))
        return started

    def _post(self, address: str, started: threading.Event) -> None:
        started.set()
        began = time.monotonic()
        answer = self._client.post(
            self.links[address], content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK
        )
        took = time.monotonic() - began
        with self._lock:
            self.took.append(took)
            self.returned_at[address] = time.time()
        assert answer.status_code == 200, f"{address}: {answer.status_code} {answer.text[:300]}"

    def finish(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()
        for future in self._futures:
            future.result()


def alert_while_members_click(
    env: dict[str, str], clicks: OneClicks, tmp_path: Path, timeout: float = 600
) -> tuple[int, Path]:
    """Publish a breaking alert and send it with a worker while `clicks` POSTs to a timed web
    server; returns the send and the web server's log of request times (timed_web.py)."""
    requests = tmp_path / "requests.log"
    timed = {FILE_VARIABLE: str(requests)}
    with (
        uvicorn_server(tmp_path / "uvicorn.log", FACTORY, timed) as base_url,
        sweeping(),
        celery_worker(env, tmp_path / "worker.log"),
    ):
        clicks.links = last_weeks_links(base_url)
        clicks.warm_up()
        send = publish_breaking("Pay award confirmed")
        wait_until_finished(send, timeout=timeout)
        clicks.finish()
        wait_until_idle(300)
    return send, requests

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

from newsletter import member_requests
from newsletter.db import session_scope
from newsletter.models import Member
from tests.faults.sends import publish_breaking, wait_until_finished
from tests.faults.sweeper import sweeping
from tests.faults.timed_web import FACTORY, FILE_VARIABLE
from tests.support.delivery_data import last_weeks_links
from tests.support.worker import celery_worker, wait_until_idle
from tests.web.server import uvicorn_server

ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}


class OneClicks:
    """POSTs made in the background; `finish` waits for them and raises any failure."""

    def __init__(self, clients: int) -> None:
        self.links: dict[str, str] = {}
        self.started: dict[str, threading.Event] = {}
        self.returned_at: dict[str, float] = {}
        # Answered 202 (newsletter/member_requests.py): a worker's hold outlasted the web app's
        # wait, so the request was kept and is applied a moment later.
        self.kept: list[str] = []
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
            if answer.status_code == 202:
                self.kept.append(address)
                return
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
    member_requests.apply_kept()  # what beat's sweep does, should the web app not have yet
    return send, requests


def still_subscribed(addresses: list[str]) -> list[str]:
    """Those of `addresses` who still have a subscription."""
    with session_scope() as session:
        found = session.scalars(select(Member).where(Member.email.in_(addresses))).all()
        return sorted(m.email for m in found if m.subscriptions)

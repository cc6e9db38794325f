"""An unsubscribe never waits for an SMTP server (ADR 0014), and still stops every message not
yet begun when it returns.

PostgreSQL only: SQLite has no row locks, so there an unsubscribe never waits for a worker.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.delivery.batches import run_batch
from newsletter.models import Delivery, Member, Send
from newsletter.preferences import unsubscribe_from_send
from tests.support.delivery_data import add_member, fan_out_breaking, statuses
from tests.support.smtp_server import Script, SmtpTestServer

pytestmark = pytest.mark.postgres
ON_POSTGRES = [pytest.param("postgresql", marks=pytest.mark.postgres)]

MEMBERS = [f"m{n:02d}@example.com" for n in range(40)]
STALLED = "m05@example.com"  # the server takes its message and does not answer
NEXT = ["m06@example.com", "m07@example.com"]  # held with it, not begun yet
PATIENCE = 10.0  # far beyond the bound (holds.LOCK_LIMIT_MS), far below the stall


class StallingServer:
    """Answers DATA for STALLED only once released (or after a minute)."""

    def __init__(self) -> None:
        self.stalled = threading.Event()
        self.released = threading.Event()
        self.server = SmtpTestServer(script=Script(before_data_reply=self._maybe_stall))

    async def _maybe_stall(self, recipients: tuple[str, ...]) -> None:
        if STALLED not in recipients or self.stalled.is_set():
            return
        self.stalled.set()
        deadline = time.monotonic() + 60
        while not self.released.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)


@pytest.fixture
def stalling(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[StallingServer]:
    stalling = StallingServer()
    with stalling.server:
        env = {
            **stalling.server.env(),
            "NEWSLETTER_SMTP_TIMEOUT": "120",  # the worker waits as long as the server stalls
            "NEWSLETTER_SMTP_CONNECTIONS_PER_PROCESS": "1",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        try:
            yield stalling
        finally:
            stalling.released.set()


def unsubscribe(address: str, send_id: int) -> None:
    with session_scope() as session:
        member = session.scalars(select(Member).where(Member.email == address)).one()
        send = session.get(Send, send_id)
        assert send is not None
        unsubscribe_from_send(session, member, send)


@pytest.mark.parametrize("db_url", ON_POSTGRES, indirect=True)
def test_an_unsubscribe_does_not_wait_for_a_stalled_smtp_transaction(
    db_url: str, stalling: StallingServer
) -> None:
    with session_scope() as session:
        for address in MEMBERS:
            # Two topics: the one-click leaves funding only, the member stays active.
            add_member(session, address, {"funding": "immediate", "npq": "weekly"})
        send_id = fan_out_breaking(session)
        ids = list(session.scalars(select(Delivery.id).where(Delivery.send_id == send_id)))
    batch = threading.Thread(target=run_batch, args=(send_id, ids))
    batch.start()
    try:
        assert stalling.stalled.wait(60), "the stalled member's turn never came"
        took: dict[str, float] = {}

        def leave(address: str) -> None:
            started = time.monotonic()
            unsubscribe(address, send_id)
            took[address] = time.monotonic() - started

        leavers = [threading.Thread(target=leave, args=(a,)) for a in [STALLED, *NEXT]]
        for thread in leavers:
            thread.start()
        for thread in leavers:
            thread.join(PATIENCE)
        # Each returned while the server still sat on the stalled transaction.
        assert not stalling.released.is_set()
        assert sorted(took) == sorted([STALLED, *NEXT]), took
    finally:
        stalling.released.set()
        batch.join(120)

    print(f"\nunsubscribes during a stalled SMTP transaction took {took}")
    final = statuses(send_id)
    copies = Counter(stalling.server.recipients())
    # The stalled message was begun before its member left: the server may still take it.
    assert final[STALLED] == "sent" and copies[STALLED] == 1
    # Those not begun when their member's unsubscribe returned never go.
    assert {a: final[a] for a in NEXT} == dict.fromkeys(NEXT, "cancelled")
    assert not any(copies[a] for a in NEXT)
    others = [a for a in MEMBERS if a not in (STALLED, *NEXT)]
    assert {a: final[a] for a in others} == dict.fromkeys(others, "sent")
    assert all(copies[a] == 1 for a in others)

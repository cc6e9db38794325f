"""A batch slower than SENDING_TIMEOUT_SECONDS keeps its rows: the recovery sweep takes rows
only from a worker gone quiet, and sends nobody's message twice.

The fault suite found it on a loaded machine: batches of 100 took 12 s against a 10 s timeout,
the sweep handed the rest of each batch to another worker while the first was still sending
it, and 7 members got their alert twice. In production a low rate limit or a slow SMTP server
makes a 250-member batch outlast the 15-minute timeout the same way.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.delivery import batches, jobs
from newsletter.delivery.batches import run_batch
from newsletter.inline import inline
from newsletter.models import Delivery
from tests.support.delivery_data import add_member, fan_out_breaking, statuses
from tests.support.smtp_server import Script, SmtpTestServer

MEMBERS = [f"m{n:02d}@example.com" for n in range(12)]
ANSWER_AFTER = 0.4  # seconds the server takes over each message: the batch takes ~5 s


async def slowly(recipients: tuple[str, ...]) -> None:
    await asyncio.sleep(ANSWER_AFTER)


@pytest.fixture
def slow_smtp(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpTestServer]:
    with SmtpTestServer(script=Script(before_data_reply=slowly)) as server:
        env = {
            **server.env(),
            "NEWSLETTER_SENDING_TIMEOUT_SECONDS": "2",
            "NEWSLETTER_SMTP_CONNECTIONS_PER_PROCESS": "1",
            "NEWSLETTER_RETRY_BASE_SECONDS": "0",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield server


def test_the_sweep_leaves_a_slow_but_live_batch_alone(slow_smtp: SmtpTestServer) -> None:
    with session_scope() as session:
        for address in MEMBERS:
            add_member(session, address, {"funding": "immediate"})
        send_id = fan_out_breaking(session)
        ids = list(session.scalars(select(Delivery.id).where(Delivery.send_id == send_id)))
    batch = threading.Thread(target=run_batch, args=(send_id, ids))
    started = time.monotonic()
    batch.start()
    with inline():
        while batch.is_alive():  # beat's sweep, much more often than every minute
            jobs.sweep(datetime.now(UTC))
            time.sleep(0.3)
        batch.join()
    took = time.monotonic() - started

    assert took > 2 * get_settings().SENDING_TIMEOUT_SECONDS  # it did outlast the timeout
    assert statuses(send_id) == dict.fromkeys(MEMBERS, "sent")
    assert Counter(slow_smtp.recipients()) == dict.fromkeys(MEMBERS, 1)


def test_a_batch_slow_to_render_renews_its_claim_before_its_first_message(
    slow_smtp: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rendering and connecting come between the claim and the first message; on a loaded
    # machine they took most of the timeout, and the sweep took rows back mid-transaction.
    render = batches.compose

    def slow_render(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.95 * get_settings().SENDING_TIMEOUT_SECONDS)
        return render(*args, **kwargs)

    monkeypatch.setattr(batches, "compose", slow_render)
    test_the_sweep_leaves_a_slow_but_live_batch_alone(slow_smtp)

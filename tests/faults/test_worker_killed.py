"""Scenario 1: SIGKILL the worker in the middle of a 5,000-member send, then start a new one."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.config import get_settings
from newsletter.db import session_scope
from tests.faults.chaos import Chaos, sized
from tests.faults.crowd import add_crowd
from tests.faults.figures import count, report
from tests.faults.processes import kill_hard
from tests.faults.sends import ledger, publish_breaking, unsent, wait_until_finished
from tests.faults.smtp import RecordingSmtpServer
from tests.faults.sweeper import sweeping
from tests.support.worker import celery_worker, wait_for, wait_until_idle

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.redis]

MEMBERS = sized(5000, 1500)
PROCESSES = 2


@pytest.mark.timeout(900)
def test_a_worker_killed_mid_send_loses_nobody_and_doubles_at_most_its_open_transactions(
    env: dict[str, str], smtp: RecordingSmtpServer, chaos: Chaos, tmp_path: Path
) -> None:
    kill_at = chaos.uniform("kill_at", 0.4, 0.05, 0.95)  # share of the send out when it dies
    with session_scope() as session:
        members = add_crowd(session, MEMBERS, {"funding": "immediate"})

    with sweeping():
        with celery_worker(env, tmp_path / "worker-1.log", concurrency=PROCESSES) as worker:
            send = publish_breaking("Pay award confirmed")
            # Kill it part of the way through (40%), while it holds claimed rows.
            wait_for(
                lambda: len(smtp.accepted) >= MEMBERS * kill_at and ledger(send)["sending"] > 0,
                600,
                "the send never got under way",
                poll=0.02,
            )
            kill_hard(worker)
            accepted_at_kill = len(smtp.accepted)
            in_its_hands = ledger(send)["sending"]
        with celery_worker(env, tmp_path / "worker-2.log", concurrency=PROCESSES):
            wait_until_finished(send, timeout=600)
            wait_until_idle(300)

    figures = report(
        count(
            "1 worker killed",
            members,
            smtp.copies(),
            [send],
            smtp.transactions(),
            note=f"SIGKILL after {accepted_at_kill} accepted, {in_its_hands} rows in its hands",
            # Each of a pool process's SMTP connections can be in the middle of a transaction
            # when it dies; nothing else may go twice.
            bound=PROCESSES * get_settings().SMTP_CONNECTIONS_PER_PROCESS,
            chaos=chaos,
        )
    )
    assert ledger(send) == {"sent": MEMBERS}, unsent(send)[:20]
    assert in_its_hands > 0  # it died in the middle of batches
    assert figures.lost == 0
    assert figures.duplicated <= figures.bound

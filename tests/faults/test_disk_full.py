"""Scenario 8: the disk that holds the SQLite database fills up in the middle of a 5,000-member
send (a small tmpfs of its own), and is freed again a few seconds later.

SQLite reuses its write-ahead log once it has been checkpointed, so a disk that fills up
bites when the log must grow: here it is truncated (as SQLite's own checkpoint can) just
before the rest of the disk is taken. From then on every write fails with "database or disk
is full": claims, results, the sweep. The worker stops sending (each SMTP connection may hand
over the message it had begun), marks nothing sent that was not, keeps the result of a
message the server took until it can write it (SENDING_TIMEOUT_SECONDS), and carries on when
space returns. A message whose result waited longer than that is sent again once the sweep
takes its row back: at most one per SMTP connection, the bound.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.config import get_settings
from newsletter.db import get_engine, session_scope
from newsletter.models import Delivery, DeliveryStatus, Member
from tests.faults.chaos import Chaos, sized
from tests.faults.crowd import add_crowd
from tests.faults.figures import count, report
from tests.faults.sends import ledger, publish_breaking, unsent, wait_until_finished
from tests.faults.smtp import RecordingSmtpServer
from tests.faults.sweeper import sweeping
from tests.support.worker import celery_worker, wait_until_idle

pytestmark = [pytest.mark.faults, pytest.mark.redis]

MEMBERS = sized(5000, 1500)
PROCESSES = 2
DISK = "64m"
FULL_SECONDS = 4.0  # shorter than SENDING_TIMEOUT_SECONDS here: no result waits too long


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of DISK, mounted for the test and always unmounted."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (the fault suite runs as root): {mounted.stderr}")
    try:
        yield where
    finally:
        get_engine().dispose()
        subprocess.run(["umount", str(where)], check=False)
        if os.path.ismount(where):
            subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def pg_url(small_disk: Path, sqlite_template: Path) -> str:
    """This scenario's database (the name is the fault suite's): SQLite on the small disk."""
    path = small_disk / "newsletter.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def fill(disk: Path) -> Path:
    """Truncate SQLite's write-ahead log, then take every byte left on the disk."""
    with sqlite3.connect(disk / "newsletter.db", timeout=60) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    filler = disk / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        chunk = 1024 * 1024
        while chunk:
            try:
                os.write(descriptor, b"\0" * chunk)
            except OSError:
                chunk //= 2  # the disk is full to within this much
    finally:
        os.close(descriptor)
    return filler


def sent_without_a_copy(copies: dict[str, int], send: int) -> list[str]:
    with session_scope() as session:
        sent = session.scalars(
            select(Member.email)
            .join(Delivery, Delivery.member_id == Member.id)
            .where(Delivery.send_id == send, Delivery.status == DeliveryStatus.SENT)
        )
        return [address for address in sent if not copies.get(address)]


@pytest.mark.timeout(900)
def test_a_full_disk_stops_sending_marks_nothing_sent_and_resumes_when_space_returns(
    env: dict[str, str],
    smtp: RecordingSmtpServer,
    small_disk: Path,
    chaos: Chaos,
    tmp_path: Path,
) -> None:
    fill_at = chaos.uniform("fill_at", 0.3, 0.05, 0.9)
    full_for = chaos.uniform("full_seconds", FULL_SECONDS, 1.0, 20.0)
    with session_scope() as session:
        members = add_crowd(session, MEMBERS, {"funding": "immediate"})

    log = tmp_path / "worker.log"
    with sweeping() as failed_sweeps, celery_worker(env, log, concurrency=PROCESSES):
        send = publish_breaking("Pay award confirmed")
        smtp.wait_for(int(MEMBERS * fill_at), timeout=600)
        filler = fill(small_disk)
        full_since = time.monotonic()
        # The disk stays full (the fault itself, not a wait for something); what was on its
        # way when it filled may land in the first second.
        time.sleep(min(full_for, 1.0))
        settled = len(smtp.accepted)
        time.sleep(max(0.0, full_for - 1.0))
        while_full = len(smtp.accepted) - settled
        filler.unlink()
        full_seconds = time.monotonic() - full_since
        wait_until_finished(send, timeout=600)
        wait_until_idle(300)

    copies = smtp.copies()
    connections = PROCESSES * get_settings().SMTP_CONNECTIONS_PER_PROCESS
    figures = report(
        count(
            "8 disk full (SQLite)",
            members,
            copies,
            [send],
            smtp.transactions(),
            note=f"full for {full_seconds:.1f}s after {fill_at:.0%}; {while_full} accepted "
            f"while full; {len(failed_sweeps)} sweeps failed meanwhile",
            bound=connections,
            chaos=chaos,
        )
    )
    worker_log = log.read_text(errors="replace")
    assert "database or disk is full" in worker_log  # the error says what is wrong
    assert while_full <= connections  # sending stopped
    assert sent_without_a_copy(copies, send) == []  # nothing marked sent that was not
    assert ledger(send) == {"sent": MEMBERS}, unsent(send)[:20]  # and it all went in the end
    assert figures.lost == 0 and figures.duplicated <= figures.bound

"""Issue 12's done-when: one-click unsubscribes sent with real HTTP requests to `newsletter serve`
while a 50,000-row `members import` runs on SQLite all answer 2xx within 2 s and all take
effect; and on PostgreSQL, one sent while the server is stopped answers 202 and takes effect
once it is back, and a mailed unsubscribe is answered 451 (try again later) while it is stopped
and applied when the sending server tries again. (A PostgreSQL row lock held by another
transaction: tests/web/test_kept_requests.py.)"""

from __future__ import annotations

import smtplib
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from newsletter import db
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.inbound import verp
from newsletter.inbound.receive_smtp import controller
from newsletter.models import Delivery, DeliveryStatus, Member, Send, utcnow
from tests.support.delivery_data import add_member, last_weeks_links, topic_ids
from tests.support.servers import PostgresServer, free_port, postgres_server, wait_for_port
from tests.support.worker import child_env, wait_for

ROOT = Path(__file__).resolve().parents[2]
IMPORT_ROWS = 50_000
LEAVERS = 21  # one to warm the server up, twenty measured
CLIENTS = 2
WITHIN_SECONDS = 2.0  # asked by the issue; a kept request answers after ~1 s of tries
# What an idle server needs to answer a page that reads no database, in seconds. On a machine
# so busy that the server answers even such a page slower, the bound grows by the difference
# (measured, with the same clients, alongside): what is under test is the time the unsubscribe
# adds, which must stay near a second, not 30 (SQLite's busy timeout) nor a 500.
IDLE_PAGE_SECONDS = 0.1
ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}
CHOICES = {"funding": "immediate", "npq": "weekly"}


def newsletter(*args: str) -> list[str]:
    return [sys.executable, "-m", "newsletter", *args]


@contextmanager
def running(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = child_env({})
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def serving(log: Path) -> Iterator[str]:
    port = free_port()
    with running(newsletter("serve", "--port", str(port)), log):
        wait_for_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}"
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text()[-3000:]


def leavers_links(base_url: str) -> dict[str, str]:
    """LEAVERS members on funding and npq, and their one-click links from a funding alert."""
    with session_scope() as session:
        for number in range(LEAVERS):
            add_member(session, f"leaver{number}@example.com", CHOICES)
    return last_weeks_links(base_url)


def one_click(url: str) -> tuple[int, float]:
    started = time.monotonic()
    answer = httpx.post(url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK, timeout=30)
    return answer.status_code, time.monotonic() - started


def one_click_and_a_page(url: str) -> tuple[int, float, float]:
    """The one-click POST, then, as a yardstick, one with a link not ours (400, no database)."""
    code, elapsed = one_click(url)
    refused, yardstick = one_click(url[:-1] + ("A" if url[-1] != "A" else "B"))
    assert refused == 400
    return code, elapsed, yardstick


def still_on_funding(emails: list[str]) -> list[str]:
    with session_scope() as session:
        members = session.scalars(select(Member).where(Member.email.in_(emails))).all()
        funding = topic_ids(session)["funding"]
        return sorted(
            m.email for m in members if any(s.topic_id == funding for s in m.subscriptions)
        )


def write_import(path: Path, leavers: list[str]) -> None:
    """The association's CSV: the leavers again, with funding, and 49,960 new members."""
    listed = "funding:immediate;npq:weekly"
    lines = ["email,name,role,topics"]
    lines += [f"{email},,SENCO,{listed}" for email in leavers]
    lines += [
        f"new{n}@example.org,Member {n},SENCO,npq:weekly" for n in range(IMPORT_ROWS - len(leavers))
    ]
    path.write_text("\n".join(lines) + "\n")


def writer_lock_held(path: str) -> bool:
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


@pytest.fixture
def sqlite_site(
    tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    path = tmp_path / "site.db"
    path.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{path}"
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url)
    monkeypatch.setenv("NEWSLETTER_EMAIL_BACKEND", "memory")
    get_settings.cache_clear()
    yield str(path)
    db.dispose_engines(url)


def test_one_click_unsubscribes_during_a_50000_row_import_answer_fast_and_all_take_effect(
    sqlite_site: str, tmp_path: Path
) -> None:
    with serving(tmp_path / "serve.log") as base_url:
        links = leavers_links(base_url)
        first = next(iter(links))  # a server that has answered before, as in production
        assert one_click(links.pop(first))[0] == 200
        csv = tmp_path / "members.csv"
        write_import(csv, list(links))
        with running(newsletter("members", "import", str(csv)), tmp_path / "import.log") as job:
            wait_for(lambda: writer_lock_held(sqlite_site), 180, "the import never began writing")
            with ThreadPoolExecutor(CLIENTS) as pool:
                answers = list(pool.map(one_click_and_a_page, links.values()))
            import_was_running = job.poll() is None
            job.terminate()  # enough: the import's own speed is not under test here
            job.wait(timeout=60)
        wait_for(lambda: not still_on_funding(list(links)), 60, "unsubscribes not applied")

    codes = [code for code, _, _ in answers]
    seconds = [elapsed for _, elapsed, _ in answers]
    yardstick = statistics.median(page for _, _, page in answers)
    allowed = WITHIN_SECONDS + max(0.0, yardstick - IDLE_PAGE_SECONDS)
    print(
        f"\n{len(links)} one-click POSTs during a {IMPORT_ROWS}-row import: "
        f"{codes.count(200)} applied (200), {codes.count(202)} kept (202); "
        f"median {statistics.median(seconds):.2f} s, slowest {max(seconds):.2f} s; "
        f"a page without the database took {yardstick:.2f} s (median), so {allowed:.2f} s allowed"
    )
    assert import_was_running
    assert set(codes) <= {200, 202}
    assert max(seconds) < allowed
    assert still_on_funding(list(links)) == []
    with session_scope() as session:
        npq = topic_ids(session)["npq"]
        kept = session.scalars(select(Member).where(Member.email.in_(list(links)))).all()
        assert all([s.topic_id for s in m.subscriptions] == [npq] for m in kept)


@pytest.fixture
def stoppable_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[PostgresServer, str]]:
    """A PostgreSQL server of this test's own (it is stopped and started), and its URL."""
    with postgres_server() as server:
        url = server.url()
        monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url)
        monkeypatch.setenv("NEWSLETTER_VAR_DIR", str(tmp_path / "var"))
        get_settings.cache_clear()
        db.upgrade(url)
        yield server, url
        db.dispose_engines(url)


@pytest.mark.postgres
def test_a_one_click_while_postgresql_is_stopped_answers_202_and_takes_effect_after(
    tmp_path: Path, stoppable_postgres: tuple[PostgresServer, str]
) -> None:
    server, url = stoppable_postgres
    with serving(tmp_path / "serve.log") as base_url:
        links = leavers_links(base_url)
        first, second = list(links)[:2]
        assert one_click(links[first])[0] == 200
        db.dispose_engines(url)
        server.stop()
        try:
            code, elapsed = one_click(links[second])
        finally:
            server.start()
        assert code == 202 and elapsed < WITHIN_SECONDS
        wait_for(lambda: not still_on_funding([first, second]), 60, "not applied")


def mailed_unsubscribe(one_click_url: str, sender: str) -> tuple[str, bytes]:
    """(address, message) a mail client sends from the mailto: in List-Unsubscribe."""
    address = verp.addresses(get_settings()).unsubscribe
    token = one_click_url.rsplit("/", 1)[1]
    message = (
        f"From: {sender}\r\nTo: {address}\r\nSubject: unsubscribe-{token}\r\n"
        "Message-ID: <mailed.1@mail.example.com>\r\n\r\nSent by a mail client.\r\n"
    )
    return address, message.encode()


def delivered_last_weeks_alert() -> None:
    """Last week's alert was sent to every member: a mailed unsubscribe names such an email."""
    with session_scope() as session:
        send = session.scalars(select(Send).where(Send.key == "alert:last-week")).one()
        for member_id in session.scalars(select(Member.id)):
            session.add(
                Delivery(
                    send_id=send.id,
                    member_id=member_id,
                    status=DeliveryStatus.SENT,
                    attempts=1,
                    sent_at=utcnow(),
                )
            )


@pytest.mark.postgres
def test_a_mailed_unsubscribe_while_postgresql_is_stopped_is_refused_for_now_then_applied(
    stoppable_postgres: tuple[PostgresServer, str],
) -> None:
    server, url = stoppable_postgres
    with session_scope() as session:
        add_member(session, "ann@example.com", CHOICES)
    [(ann, link)] = last_weeks_links(get_settings().BASE_URL).items()
    delivered_last_weeks_alert()
    address, message = mailed_unsubscribe(link, ann)
    port = free_port()
    inbound = controller(get_settings(), "127.0.0.1", port)
    inbound.start()
    try:
        db.dispose_engines(url)
        server.stop()
        try:
            with (
                smtplib.SMTP("127.0.0.1", port) as client,
                pytest.raises(smtplib.SMTPDataError) as refused,
            ):
                client.sendmail(ann, [address], message)
        finally:
            server.start()
        assert refused.value.smtp_code == 451
        assert still_on_funding([ann]) == [ann]
        with smtplib.SMTP("127.0.0.1", port) as client:  # the sender's server, later
            client.sendmail(ann, [address], message)
    finally:
        inbound.stop()
    assert still_on_funding([ann]) == []

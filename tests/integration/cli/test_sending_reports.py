"""What the sending commands tell the user (issue 14 items 4 and 6): --inline is honoured and
reported, a send that is deferring says why, `sends retry` takes deferred rows too, queued
alerts are listed at once, and an inline run that stops hands its rows back at once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.models import Delivery, DeliveryStatus
from tests.support.fixtures import PAGE_CAPTURE
from tests.support.servers import free_port
from tests.support.smtp_server import SmtpTestServer

runner = CliRunner()
NEWSLETTER = str(Path(sys.executable).parent / "newsletter")
NO_WORKER = "no worker is running"


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def smtp_down(db_url: str, monkeypatch: pytest.MonkeyPatch) -> SmtpTestServer:
    """The SMTP backend, pointed at a port where nothing listens yet (start() brings it up)."""
    server = SmtpTestServer(port=free_port())
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    assert run("members", "add", "ann@example.com", "--topic", "npq:immediate")[0] == 0
    assert run("articles", "import", str(PAGE_CAPTURE))[0] == 0  # article 1, about NPQs
    return server


def deliveries() -> list[tuple[DeliveryStatus, str]]:
    with session_scope() as session:
        return [tuple(row) for row in session.execute(select(Delivery.status, Delivery.last_error))]  # type: ignore[misc]


def sigint_as_at_a_terminal() -> None:
    """Run in the child before the command starts: Ctrl-C's SIGINT at its default, as for a
    command typed at a terminal. A suite started in the background (`make test &` in a script)
    ignores SIGINT, the command would inherit that, and Python would leave it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_publishing_without_a_worker_says_so_and_lists_the_alert_as_queued(
    smtp_down: SmtpTestServer,
) -> None:
    code, out, err = run("articles", "publish", "1")
    assert code == 0, err
    assert "Published article 1." in out
    assert NO_WORKER in err and "--inline" in err
    assert f"the SMTP server at 127.0.0.1:{smtp_down.port}" in err and "does not answer" in err

    code, out, err = run("sends", "list")
    assert code == 0, err
    [row] = [line for line in out.splitlines() if "(article 1)" in line]
    assert "alert" in row and "queued" in row and "Leading through the NPQs" in row
    code, out, _ = run("sends", "list", "--json")
    [queued] = json.loads(out)
    assert queued["status"] == "queued" and queued["article_id"] == 1 and queued["id"] is None


def test_an_inline_send_that_defers_says_why_and_retry_takes_the_deferred_rows(
    smtp_down: SmtpTestServer,
) -> None:
    code, out, err = run("articles", "publish", "1", "--inline")
    assert code == 0, err
    assert "Send 1 sending: 0 sent, 1 deferred, 0 failed." in out
    assert "send 1: 1 deferred (backend unavailable: cannot connect to the SMTP server" in err
    assert "Connection refused" in err and "newsletter sends retry 1 --inline" in err
    assert NO_WORKER not in err

    again = run("articles", "publish", "1", "--inline")  # re-publish: --inline still counts
    assert "already published; its alert was sent again (to whoever has not had it" in again[1]
    assert "Send 1 sending: 0 sent, 1 deferred" in again[1] and NO_WORKER not in again[2]

    code, out, _ = run("sends", "show", "1")
    [row] = [line for line in out.splitlines() if "deferred" in line]
    assert "1" in row and "Connection refused" in row  # the last error, in its state's row
    code, out, _ = run("sends", "show", "1", "--json")
    assert "Connection refused" in json.loads(out)["last_errors"]["deferred"]

    with smtp_down:  # the server is up now
        code, out, err = run("sends", "retry", "1", "--inline")
    assert code == 0, err
    assert "Send 1: 0 failed and 1 deferred deliveries tried again." in out
    assert "Send 1 sent: 1 sent, 0 deferred, 0 failed." in out
    assert smtp_down.recipients() == ["ann@example.com"]
    assert deliveries() == [(DeliveryStatus.SENT, "")]

    code, out, _ = run("sends", "retry", "1")
    assert code == 0 and "nothing to retry (no failed or deferred deliveries)" in out


def test_retry_without_inline_queues_the_deferred_rows_for_a_worker(
    smtp_down: SmtpTestServer,
) -> None:
    assert run("articles", "publish", "1", "--inline")[0] == 0

    code, out, err = run("sends", "retry", "1")

    assert code == 0, err
    assert "Send 1: 0 failed and 1 deferred deliveries queued again." in out
    assert NO_WORKER in err
    assert deliveries()[0][0] == DeliveryStatus.PENDING


def test_an_inline_run_stopped_part_way_hands_its_rows_back_at_once(
    smtp_down: SmtpTestServer, db_url: str, tmp_path: Path
) -> None:
    """Ctrl-C while the SMTP server is slow to answer: the row is not left `sending` until
    SENDING_TIMEOUT_SECONDS (15 minutes) has passed, but deferred and due now."""
    with socket.socket() as silent:  # takes connections and never says hello
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        env = {
            **os.environ,
            "NEWSLETTER_SMTP_PORT": str(silent.getsockname()[1]),
            "NEWSLETTER_SMTP_TIMEOUT": "120",
        }
        process = subprocess.Popen(
            [NEWSLETTER, "articles", "publish", "1", "--inline"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=sigint_as_at_a_terminal,
        )
        try:
            deadline = time.monotonic() + 120
            while [s for s, _ in deliveries()] != [DeliveryStatus.SENDING]:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)
        finally:
            process.kill()

    assert process.returncode == 130
    assert "Traceback" not in err
    [(status, error)] = deliveries()
    assert status == DeliveryStatus.DEFERRED
    assert error == "the command sending inline was interrupted"
    with smtp_down:
        code, out, err = run("sends", "retry", "1", "--inline")
    assert code == 0, err
    assert "Send 1 sent: 1 sent" in out and smtp_down.recipients() == ["ann@example.com"]

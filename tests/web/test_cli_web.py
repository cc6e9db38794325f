"""`newsletter staff create|list|set-password` and `newsletter serve`, as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import select
from typer.testing import CliRunner

from newsletter import staff_sessions
from newsletter.cli import app
from newsletter.db import session_scope
from newsletter.models import AuditEvent
from newsletter.staff import authenticate, find_staff
from tests.support.servers import free_port, wait_for_port

runner = CliRunner()
PASSWORD = "a long enough passphrase"


def test_staff_create_reads_the_password_from_stdin(db_url: str) -> None:
    made = runner.invoke(
        app, ["staff", "create", "Ada@Example.org", "--role", "admin"], input=PASSWORD + "\n"
    )
    assert made.exit_code == 0, made.stderr
    assert "Created admin account ada@example.org" in made.stdout
    assert PASSWORD not in made.stdout + made.stderr
    with session_scope(db_url) as session:
        user = authenticate(session, "ada@example.org", PASSWORD)
        assert user is not None and user.role.value == "admin"

    listed = runner.invoke(app, ["staff", "list"])
    assert "ada@example.org" in listed.stdout and "admin" in listed.stdout


def test_staff_create_names_what_is_wrong(db_url: str) -> None:
    bad_role = runner.invoke(app, ["staff", "create", "x@example.org", "--role", "boss"])
    assert bad_role.exit_code == 2 and "unknown role 'boss'" in bad_role.stderr

    short = runner.invoke(
        app, ["staff", "create", "x@example.org", "--role", "comms"], input="short\n"
    )
    assert short.exit_code == 1 and "at least 12 characters" in short.stderr

    args = ["staff", "create", "x@example.org", "--role", "comms"]
    assert runner.invoke(app, args, input=PASSWORD + "\n").exit_code == 0
    again = runner.invoke(app, args, input=PASSWORD + "\n")
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_staff_set_password_replaces_it_and_ends_every_session(db_url: str) -> None:
    args = ["staff", "create", "ada@example.org", "--role", "admin"]
    assert runner.invoke(app, args, input=PASSWORD + "\n").exit_code == 0
    with session_scope(db_url) as session:
        user = find_staff(session, "ada@example.org")
        assert user is not None
        cookie = staff_sessions.start(session, user, "127.0.0.1")
    new = "another long passphrase entirely"

    done = runner.invoke(app, ["staff", "set-password", "Ada@Example.org"], input=new + "\n")

    assert done.exit_code == 0, done.stderr
    assert "New password set for ada@example.org" in done.stdout
    assert new not in done.stdout + done.stderr
    with session_scope(db_url) as session:
        assert authenticate(session, "ada@example.org", new) is not None
        assert authenticate(session, "ada@example.org", PASSWORD) is None
        assert staff_sessions.find(session, cookie) is None
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "staff.password")
        ).one()
        assert event.actor.startswith("cli") and event.detail["sessions_ended"] == 1


def test_staff_set_password_names_what_is_wrong_and_changes_nothing(db_url: str) -> None:
    args = ["staff", "create", "ada@example.org", "--role", "admin"]
    assert runner.invoke(app, args, input=PASSWORD + "\n").exit_code == 0

    unknown = runner.invoke(
        app, ["staff", "set-password", "bob@example.org"], input=PASSWORD + "\n"
    )
    weak = runner.invoke(app, ["staff", "set-password", "ada@example.org"], input="short\n")

    assert unknown.exit_code == 1
    assert unknown.stderr.strip().splitlines() == [
        "error: there is no staff account for bob@example.org"
    ]
    assert weak.exit_code == 1 and "at least 12 characters" in weak.stderr
    with session_scope(db_url) as session:
        assert authenticate(session, "ada@example.org", PASSWORD) is not None


def test_serve_answers_on_the_given_port(db_url: str, tmp_path: Path) -> None:
    port = free_port()
    command = [str(Path(sys.executable).parent / "newsletter"), "serve", "--port", str(port)]
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen(
            command,
            env=dict(os.environ),
            cwd=Path(__file__).resolve().parents[2],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, timeout=30)
        home = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert home.status_code == 200 and "Subscribe" in home.text
        assert "server" not in home.headers  # uvicorn does not announce itself
    finally:
        process.terminate()
        process.wait(timeout=15)

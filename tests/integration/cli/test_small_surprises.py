"""Small surprises a newcomer met in the first hour (issue 14 item 7), each with the message
the user now sees: unknown roles, dates without a time, a plain text article."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from newsletter.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def schedule(body: Path, *extra: str) -> tuple[int, str, str]:
    return run(
        "sends", "schedule", "--subject", "Network meeting", "--body-file", str(body),
        "--topic", "npq", "--json", *extra,
    )  # fmt: skip


def test_a_role_no_member_has_is_refused_with_the_roles_listed(db_url: str, tmp_path: Path) -> None:
    for email, role in (("ann@example.com", "SENCO"), ("bob@example.com", "phase leader")):
        assert run("members", "add", email, "--role", role, "--topic", "npq:daily")[0] == 0
    body = tmp_path / "body.md"
    body.write_text("Book your place.\n")
    at = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%d 09:00")

    code, _, err = schedule(body, "--at", at, "--role", "SENCOs")

    assert code == 2
    assert "no member has the role 'SENCOs' (roles members have: 'SENCO', 'phase leader')" in err
    assert json.loads(run("sends", "list", "--json")[1]) == []

    code, out, err = schedule(body, "--at", at, "--role", "senco")  # case does not matter
    assert code == 0, err
    assert json.loads(out)["status"] == "scheduled"


def test_a_date_without_a_time(db_url: str, tmp_path: Path) -> None:
    body = tmp_path / "body.md"
    body.write_text("Book your place.\n")
    day = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%d")

    code, _, err = schedule(body, "--at", day)
    assert code == 2
    assert f"--at '{day}' has no time of day; give one, like --at \"{day} 09:00\"" in err
    assert json.loads(run("sends", "list", "--json")[1]) == []

    past = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%d")  # --as-of must have passed
    code, out, err = run("digest", "run", "--frequency", "daily", "--as-of", past, "--inline")
    assert code == 0, err
    assert f"--as-of '{past}' has no time of day: read as {past} 00:00 Europe/London" in err


def test_a_plain_text_file_is_said_to_be_read_as_plain_text(db_url: str, tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("Careers fair for middle leaders\n\nJoin us on 12 March for talks.\n")

    code, out, err = run("articles", "import", str(note))

    assert code == 0, err
    assert (
        f"{note}: imported article 1 ('Careers fair for middle leaders'), read as plain text "
        "(its first line is the title)"
    ) in out
    assert "site chrome" not in err and "stored captures" not in err
    code, out, _ = run("articles", "import", str(note), "--json")
    assert json.loads(out)[0]["status"] == "already imported"

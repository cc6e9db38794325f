"""Settings checked at start (issue 19 item 5, issue 14 item 3): a wrong setting, a database that
cannot be reached, opened or is not migrated, a broker that cannot be used, a file that cannot
be written. Each is one line naming the variable (or the path) and the fix, exit 2, no traceback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import get_settings
from newsletter.member_csv import COLUMNS
from tests.support.servers import RedisServer, free_port

runner = CliRunner()
NEWSLETTER = str(Path(sys.executable).parent / "newsletter")

# The entry points that start work: each checks settings before anything else.
STARTERS = [
    ["worker"],
    ["beat"],
    ["serve"],
    ["articles", "publish", "1"],
    ["digest", "run", "--frequency", "daily"],
]


def one_line_error(result: object, *expected: str) -> str:
    """The command exited 2 with exactly one line on stderr, holding every expected phrase."""
    exit_code, stderr = result.exit_code, result.stderr  # type: ignore[attr-defined]
    assert exit_code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    for phrase in expected:
        assert phrase in lines[0], lines[0]
    return lines[0]


def use(monkeypatch: pytest.MonkeyPatch, **settings: str) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(f"NEWSLETTER_{name}", value)
    get_settings.cache_clear()


@pytest.mark.parametrize("argv", STARTERS, ids=" ".join)
def test_an_unknown_email_backend_stops_every_entry_point(
    monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    use(monkeypatch, EMAIL_BACKEND="smpt")
    one_line_error(
        runner.invoke(app, argv),
        "NEWSLETTER_EMAIL_BACKEND",
        "unknown email backend 'smpt'; choose one of: smtp, console, file, memory",
    )


def test_postgresql_unreachable_is_one_line_for_commands_and_db_upgrade(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"postgresql://newsletter:secret@127.0.0.1:{free_port()}/newsletter"  # nothing there
    use(monkeypatch, DATABASE_URL=url)
    for argv in (["members", "list"], ["worker"], ["serve"]):
        line = one_line_error(
            runner.invoke(app, argv),
            "NEWSLETTER_DATABASE_URL: cannot connect to postgresql://newsletter:***@127.0.0.1",
            "Connection refused",
            "start PostgreSQL there, or set NEWSLETTER_DATABASE_URL",
        )
        assert "secret" not in line

    # `db upgrade` as an operator runs it: a real process, stderr a pipe.
    env = {**os.environ, "NEWSLETTER_DATABASE_URL": url, "NEWSLETTER_VAR_DIR": str(tmp_path)}
    upgrade = subprocess.run(
        [NEWSLETTER, "db", "upgrade"], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert upgrade.returncode == 2
    assert "Traceback" not in upgrade.stderr
    assert upgrade.stderr.count("\n") == 1
    assert upgrade.stderr.startswith("error: NEWSLETTER_DATABASE_URL: cannot connect to")


def test_a_sqlite_file_that_is_not_a_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    notes = tmp_path / "notes.db"
    notes.write_text("shopping list: milk, eggs\n" * 100)
    use(monkeypatch, DATABASE_URL=f"sqlite:///{notes}")
    for argv in (["members", "list"], ["db", "upgrade"], ["beat"]):
        one_line_error(
            runner.invoke(app, argv),
            f"NEWSLETTER_DATABASE_URL: cannot open sqlite:///{notes}: file is not a database",
            "move that file away, or set NEWSLETTER_DATABASE_URL to another file",
        )
    assert notes.read_text().startswith("shopping list")  # nothing was written to it


def test_an_unmigrated_database_stops_worker_beat_and_serve(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use(monkeypatch, DATABASE_URL=f"sqlite:///{tmp_path}/fresh.db")
    for argv in (["worker"], ["beat"], ["serve"], ["sends", "list"]):
        one_line_error(
            runner.invoke(app, argv),
            "NEWSLETTER_DATABASE_URL: the database",
            "has no tables yet; run `newsletter db upgrade` first",
        )


def test_a_broker_that_does_not_answer_stops_worker_and_sending_commands(
    monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    use(monkeypatch, BROKER_URL=f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    for argv in (["worker"], ["beat"], ["digest", "run", "--frequency", "daily"]):
        line = one_line_error(
            runner.invoke(app, argv),
            "NEWSLETTER_BROKER_URL: cannot reach Redis at redis://:***@127.0.0.1:",
            "start Redis there, or set NEWSLETTER_BROKER_URL=embedded",
        )
        assert "hunter2" not in line
    # --inline needs no broker: the digest runs here (and finds nobody to send to).
    inline = runner.invoke(app, ["digest", "run", "--frequency", "daily", "--inline"])
    assert inline.exit_code == 0, inline.stderr


@pytest.mark.redis
def test_a_running_redis_passes_the_check(
    monkeypatch: pytest.MonkeyPatch, redis: RedisServer, tmp_path: Path
) -> None:
    from newsletter import preflight

    use(monkeypatch, BROKER_URL=redis.url, REDIS_URL=redis.url.replace("/0", "/1"))
    preflight.check_broker(get_settings())  # raises StartupError if it would refuse

    use(monkeypatch, BROKER_URL="embedded", VAR_DIR=str(tmp_path / "a" / "b"))
    preflight.check_broker(get_settings())
    assert (tmp_path / "a" / "b").is_dir()


def test_a_dkim_key_that_is_not_a_key_stops_the_commands_that_sign(
    monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path
) -> None:
    key = tmp_path / "dkim.pem"
    key.write_text("not a key\n")
    use(monkeypatch, DKIM_PRIVATE_KEY_PATH=str(key), DKIM_SELECTOR="news")
    for argv in (
        ["worker"],
        ["serve"],
        ["digest", "run", "--frequency", "daily", "--inline"],
        ["sends", "test", "1", "--to", "me@example.org"],
    ):
        one_line_error(
            runner.invoke(app, argv),
            f"NEWSLETTER_DKIM_PRIVATE_KEY_PATH: {key} is not a PEM RSA private key",
        )
    # Without --inline the command only queues: a worker, which checks its own key, signs.
    assert runner.invoke(app, ["digest", "run", "--frequency", "daily"]).exit_code == 0


def test_members_export_into_a_missing_folder(db_url: str, tmp_path: Path) -> None:
    target = tmp_path / "no-such-folder" / "members.csv"
    one_line_error(
        runner.invoke(app, ["members", "export", str(target)]),
        f"cannot write {target}: the folder {target.parent} does not exist; create it first",
    )
    assert not target.parent.exists()

    written = runner.invoke(app, ["members", "export", str(tmp_path / "members.csv")])
    assert written.exit_code == 0, written.stderr
    assert (tmp_path / "members.csv").read_text() == ",".join(COLUMNS) + "\n"  # header alone
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers


def test_errors_are_not_wrapped_when_stderr_is_not_a_terminal(
    tmp_path: Path, sqlite_template: Path
) -> None:
    env = {
        **os.environ,
        "COLUMNS": "80",
        "NEWSLETTER_VAR_DIR": str(tmp_path),
        "NEWSLETTER_DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db",
    }
    long_name = "a-member-export-with-a-long-name-that-goes-well-past-eighty-columns.csv"
    refused = subprocess.run(
        [NEWSLETTER, "members", "export", str(tmp_path / "missing" / long_name)],
        env=env,
        capture_output=True,
        text=True,
    )
    [line] = refused.stderr.splitlines()  # not migrated: refused before the export
    assert len(line) > 80 and line.endswith("run `newsletter db upgrade` first.")

    shutil.copy(sqlite_template, tmp_path / "migrated.db")
    env["NEWSLETTER_DATABASE_URL"] = f"sqlite:///{tmp_path}/migrated.db"
    usage = subprocess.run(
        [NEWSLETTER, "sends", "show", "not-a-number"], env=env, capture_output=True, text=True
    )
    assert usage.returncode == 2
    assert "╭" not in usage.stderr  # no box drawn for a log file
    assert (
        "Error: Invalid value for 'send_id': Input should be a valid integer, unable to parse "
        "string as an integer"
    ) in usage.stderr.splitlines()

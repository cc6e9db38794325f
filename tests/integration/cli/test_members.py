"""The members and topics commands, end to end through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from newsletter.cli import app

runner = CliRunner()

GOOD_AND_BAD = (
    "email,name,role,topics\n"
    "ann@example.com,Ann Archer,SENCO,funding:immediate;npq:weekly\n"
    "not-an-address,Bad Address,,funding:daily\n"
    "bob@example.com,Bob Baker,phase leader,assessment:daily\n"
    "cat@example.com,Cat Cole,,astrology:weekly\n"
    "dan@example.com,Dan Dale,subject leader,\n"
)


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def members_json() -> list[dict[str, object]]:
    code, out, err = run("members", "list", "--json")
    assert code == 0, err
    return json.loads(out)


def test_import_with_bad_rows_names_them_and_writes_nothing(db_url: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "members.csv"
    csv_file.write_text(GOOD_AND_BAD)

    code, _, err = run("members", "import", str(csv_file))

    assert code == 1
    assert f"{csv_file}:3:" in err and "invalid email address" in err
    assert f"{csv_file}:5:" in err and "unknown topic 'astrology'" in err
    assert "nothing was written" in err
    assert members_json() == []


def test_partial_import_writes_the_good_rows(db_url: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "members.csv"
    csv_file.write_text(GOOD_AND_BAD)

    code, out, _ = run(
        "members", "import", str(csv_file), "--partial", "--consent", "membership terms"
    )

    assert code == 1  # bad rows are still an error for scripts, but the good ones are in
    assert "Imported 3 rows" in out
    members = {m["email"]: m for m in members_json()}
    assert sorted(members) == ["ann@example.com", "bob@example.com", "dan@example.com"]
    assert members["ann@example.com"]["subscriptions"] == {"funding": "immediate", "npq": "weekly"}
    assert members["ann@example.com"]["status"] == "active"


def test_reimport_updates_instead_of_duplicating(db_url: str, tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    first.write_text("email,name,role,topics\nAnn@Example.com,Ann,SENCO,funding:daily\n")
    second = tmp_path / "b.csv"
    second.write_text("email,name,role,topics\nann@example.com,Ann A,SENCO,npq:weekly\n")

    assert run("members", "import", str(first))[0] == 0
    assert run("members", "import", str(second))[0] == 0

    members = members_json()
    assert len(members) == 1
    assert members[0]["name"] == "Ann A"
    assert members[0]["subscriptions"] == {"npq": "weekly"}


def test_duplicate_in_file_is_a_bad_row(db_url: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "dup.csv"
    csv_file.write_text(
        "email,name,role,topics\nann@example.com,Ann,,\nANN@example.com,Ann again,,\n"
    )
    code, _, err = run("members", "import", str(csv_file))
    assert code == 1
    assert "duplicate of line 2" in err


def test_export_then_import_round_trips(db_url: str, tmp_path: Path) -> None:
    assert (
        run(
            "members",
            "add",
            "ann@example.com",
            "--name",
            'Ann, "the" Archer',
            "--role",
            "SENCO",
            "--topic",
            "funding=immediate",
            "--topic",
            "npq=weekly",
        )[0]
        == 0
    )
    assert run("members", "add", "bob@example.com", "--name", "Bób Bäker")[0] == 0
    assert run("members", "add", "cat@example.com", "--topic", "itt=daily")[0] == 0
    before = members_json()
    export = tmp_path / "export.csv"
    assert run("members", "export", str(export))[0] == 0

    # An empty database: drop everyone, then import the export.
    from sqlalchemy import delete

    from newsletter.db import session_scope
    from newsletter.models import Member

    with session_scope(db_url) as session:
        session.execute(delete(Member))
    assert members_json() == []

    code, _, err = run("members", "import", str(export))
    assert code == 0, err
    assert members_json() == before


def test_members_add_rejects_unknown_topic_and_frequency(db_url: str) -> None:
    code, _, err = run("members", "add", "x@example.com", "--topic", "funding=hourly")
    assert code == 1 and "unknown frequency 'hourly'" in err
    code, _, err = run("members", "add", "x@example.com", "--topic", "nosuch=daily")
    assert code == 1 and "unknown topic 'nosuch'" in err
    assert members_json() == []


def test_topics_seeded_and_added(db_url: str) -> None:
    code, out, _ = run("topics", "list", "--json")
    assert code == 0
    assert [t["slug"] for t in json.loads(out)] == [
        "assessment",
        "careers",
        "funding",
        "itt",
        "npq",
    ]
    assert run("topics", "add", "send", "--name", "SEND")[0] == 0
    code, _, err = run("topics", "add", "Bad Slug", "--name", "x")
    assert code == 1 and "must be lower-case" in err
    code, out, _ = run("topics", "list", "--json")
    assert "send" in [t["slug"] for t in json.loads(out)]


def test_members_show_prints_the_consent_record(db_url: str) -> None:
    assert (
        run("members", "add", "ann@example.com", "--topic", "funding=daily", "--consent", "x")[0]
        == 0
    )
    assert run("members", "add", "ann@example.com", "--topic", "npq=weekly")[0] == 0

    code, out, _ = run("members", "show", "Ann@Example.com", "--json")

    assert code == 0
    shown = json.loads(out)
    assert shown["subscriptions"] == {"npq": "weekly"}
    assert shown["consent"]["basis"] == "x"
    changes = [(e["field"], e["topic"], e["old"], e["new"], e["source"]) for e in shown["history"]]
    assert changes == [
        ("status", None, "", "active", "console"),
        ("subscription", "funding", "", "daily", "console"),
        ("subscription", "funding", "daily", "", "console"),
        ("subscription", "npq", "", "weekly", "console"),
    ]
    assert all(e["actor"].startswith("cli:") for e in shown["history"])
    code, out, _ = run("members", "show", "ann@example.com")
    assert code == 0 and "Consent record" in out and "funding" in out and "daily → off" in out
    code, _, err = run("members", "show", "nobody@example.com")
    assert code == 1 and "there is no member" in err
    code, _, err = run("members", "show", "not-an-address")
    assert code == 2 and "invalid email address" in err


def test_both_topic_syntaxes_are_read_and_one_is_printed(db_url: str, tmp_path: Path) -> None:
    code, _, err = run(
        "members", "add", "ann@example.com", "--topic", "funding:immediate", "--topic", "npq=weekly"
    )
    assert code == 0, err
    csv_file = tmp_path / "members.csv"
    csv_file.write_text(
        'email,name,role,topics\nbob@example.com,Bob,,"itt=daily, careers:weekly"\n'
    )
    code, _, err = run("members", "import", str(csv_file))
    assert code == 0, err

    code, out, _ = run("members", "list")
    assert "funding:immediate, npq:weekly" in out and "careers:weekly, itt:daily" in out
    assert "=" not in out
    export = tmp_path / "export.csv"
    assert run("members", "export", str(export))[0] == 0
    assert "careers:weekly;itt:daily" in export.read_text()


def test_topic_hints_quote_what_was_typed(db_url: str, tmp_path: Path) -> None:
    for typed, message in [
        ("funding:daily=weekly", "'funding:daily=weekly' gives more than one frequency"),
        ("funding", "topic 'funding' needs a frequency, like funding:weekly"),
        ("fundng=daily", "unknown topic 'fundng' in 'fundng=daily' (known topics: assessment,"),
        ("funding=hourly", "unknown frequency 'hourly' in 'funding=hourly' (expected one of"),
    ]:
        code, _, err = run("members", "add", "x@example.com", "--topic", typed)
        assert code == 1 and message in err, (typed, err)
        assert "like funding:daily=" not in err

    csv_file = tmp_path / "members.csv"
    csv_file.write_text("email,name,role,topics\nx@example.com,,,npq:weekly;funding=soon\n")
    code, _, err = run("members", "import", str(csv_file))
    assert code == 1
    assert f"{csv_file}:2: unknown frequency 'soon' in 'funding=soon'" in err
    assert members_json() == []

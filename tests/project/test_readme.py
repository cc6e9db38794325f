"""The README is true to the code: every command in it parses with the real CLI (and every file
it names exists), its settings table lists every setting, and its first screen tells a newcomer
what to run and where to look."""

from __future__ import annotations

import itertools
import re
import shlex

import pytest

from newsletter.config import ENV_PREFIX, Settings
from tests.support.cli_parse import resolve
from tests.support.fixtures import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
SHELL_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.M | re.S)
ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=")
FIRST_SCREEN_LINES = 45


def readme_commands() -> list[list[str]]:
    """Each command of the README's ```sh blocks as words (continuations joined, comments off)."""
    commands = []
    for block in SHELL_BLOCK.findall(README):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(words)
    return commands


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))


def check_variables(assignments: list[str]) -> None:
    for assignment in assignments:
        match = ASSIGNMENT.match(assignment)
        assert match, f"{assignment!r} is not NAME=VALUE"
        name = match[1].removeprefix(ENV_PREFIX)
        assert match[1].startswith(ENV_PREFIX) and name in Settings.model_fields, match[1]


def check_command(words: list[str]) -> None:
    settings = list(itertools.takewhile(ASSIGNMENT.match, words))  # NAME=VALUE before it
    words = words[len(settings) :]
    check_variables(settings)
    program, args = words[0], words[1:]
    if program == "export":
        check_variables(args)
    elif program == "make":
        variables = [a.partition("=")[0] for a in args if "=" in a]
        makefile = (ROOT / "Makefile").read_text()
        assert all(f"$({v})" in makefile for v in variables), f"no such make variable in {args}"
        targets = {a for a in args if "=" not in a}
        assert targets <= make_targets(), f"no such make target in {args}"
    elif program == ".venv/bin/newsletter":
        resolve(["newsletter", *args])
    elif words[:3] == [".venv/bin/python", "-m", "pytest"]:
        paths = [a for a in args[2:] if not a.startswith("-") and a != "no:cacheprovider"]
        assert paths and all((ROOT / p).exists() for p in paths), words
    else:
        pytest.fail(f"the README runs {program!r}, which this test does not know how to check")


COMMANDS = readme_commands()


@pytest.mark.parametrize("words", COMMANDS, ids=[" ".join(c)[:60] for c in COMMANDS])
def test_every_readme_command_parses_with_the_real_cli(
    words: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # the files it names are relative to the repository
    check_command(words)


def test_the_checker_refuses_what_does_not_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    for wrong in (
        ".venv/bin/newsletter articles publish 3 --wait",  # the option the README once showed
        ".venv/bin/newsletter sends list | show ID",
        ".venv/bin/newsletter members import no-such-file.csv",
        ".venv/bin/newsletter sends schedule --subject x --topic npq --at '2026-12-01 09:00'",
        "export NEWSLETTER_NO_SUCH_SETTING=1",
        "make no-such-target",
        "make bench NO_SUCH_VARIABLE=1",
        "rm -rf var",
    ):
        with pytest.raises(BaseException):  # noqa: B017 (click's and pytest's own errors)
            check_command(shlex.split(wrong, comments=True))
    assert len(COMMANDS) >= 30


def settings_table() -> set[str]:
    section = README.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`(NEWSLETTER_[A-Z0-9_]+)`", row[:60])}


def test_the_settings_table_lists_every_setting_and_nothing_else() -> None:
    documented = settings_table()
    expected = {ENV_PREFIX + name for name in Settings.model_fields}
    assert sorted(expected - documented) == [], "settings missing from the README's table"
    assert sorted(documented - expected) == [], (
        "the README's table names settings that do not exist"
    )


def test_the_first_screen_says_what_to_run_and_where_to_look() -> None:
    first = "\n".join(README.splitlines()[:FIRST_SCREEN_LINES])
    for needed in (
        "make demo",
        "make test",
        "var/demo/outbox/index.html",
        "staff create",
        "http://127.0.0.1:8000/staff",
        "sign in",
        "docs/performance.md",
        "docs/reliability.md",
    ):
        assert needed in first, needed
    assert "../shared" not in README  # a clone has nothing beside it


def test_the_long_histories_live_in_docs() -> None:
    for page, heading in (
        ("docs/performance.md", "What the profiles"),
        ("docs/reliability.md", "What the scenarios found"),
    ):
        assert heading in (ROOT / page).read_text(encoding="utf-8")
        assert heading not in README

"""`.ci/run` and the Makefile's apt step, run for real with stand-ins for `make` and `apt-get`
on PATH (the real ones would run the whole suite, or install packages)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from tests.support.fixtures import ROOT


def stand_in(folder: Path, name: str, script: str) -> None:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("#!/usr/bin/env bash\n" + script)
    path.chmod(0o755)


def with_path(folder: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def test_ci_runs_make_test_in_a_clean_clone_of_head_with_nothing_beside_it(
    tmp_path: Path,
) -> None:
    seen = tmp_path / "seen"
    stand_in(
        tmp_path / "bin",
        "make",
        f"""{{ echo "args: $*"; echo "pwd: $PWD"; echo "beside: $(ls -A ..)"
  echo "head: $(git rev-parse HEAD)"; echo "dirty: $(git status --porcelain)"
  echo "tracked: $(git ls-files | wc -l)"
  echo "files: $(find . -path ./.git -prune -o \\( -type f -o -type l \\) -print | wc -l)"
}} > {shlex.quote(str(seen))}
""",
    )
    result = subprocess.run(
        [str(ROOT / ".ci" / "run")], env=with_path(tmp_path / "bin"), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    facts = dict(line.split(": ", 1) for line in seen.read_text().splitlines())
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert facts["args"] == "test"
    assert facts["head"] == head
    assert facts["beside"] == "newsletter"  # the clone alone in its folder: no ../shared
    assert facts["dirty"] == ""
    assert facts["files"] == facts["tracked"]  # nothing but the commit's files
    assert not Path(facts["pwd"]).exists()  # and the folder is cleaned up afterwards
    assert f"make test in a clean clone of {head[:12]}" in result.stdout


def test_system_packages_waits_for_the_apt_lock_and_says_what_it_installs(
    tmp_path: Path,
) -> None:
    calls = tmp_path / "apt-calls"
    stand_in(tmp_path / "bin", "apt-get", f'echo "$*" >> {shlex.quote(str(calls))}\n')
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "system-packages",
            "TEST_PACKAGES=redis-server:redis-server newsletter-no-such-command:hello",
        ],
        cwd=ROOT,
        env=with_path(tmp_path / "bin"),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "Installing Debian packages the tests need: hello" in result.stdout
    update, install = calls.read_text().splitlines()
    assert update == "-o DPkg::Lock::Timeout=600 update -qq"
    assert install == "-o DPkg::Lock::Timeout=600 install -y -qq hello"


def test_system_packages_installs_nothing_when_every_command_is_there(tmp_path: Path) -> None:
    calls = tmp_path / "apt-calls"
    stand_in(tmp_path / "bin", "apt-get", f'echo "$*" >> {shlex.quote(str(calls))}\n')
    result = subprocess.run(
        ["make", "--no-print-directory", "system-packages", "TEST_PACKAGES=bash:bash"],
        cwd=ROOT,
        env=with_path(tmp_path / "bin"),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and result.stdout == "" and not calls.exists()

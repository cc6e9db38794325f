"""The project as a user installs it: the wheel (not an editable install) into a fresh
virtualenv, then `newsletter demo` from an empty folder. The wheel must carry the templates,
static files, migrations and the demo's samples; nothing may be read from the repository.

The dependencies are installed from a folder of their wheels, made once per set of
dependencies under .venv/wheelhouse/ (`pip wheel`, from pip's cache or the index): the test then
needs no network; most of its time is the demo itself.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]


def run(argv: list[str], **options: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, **options)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{argv}:\n{result.stdout}\n{result.stderr}"
    return result  # type: ignore[no-any-return]


def build_wheel(folder: Path) -> Path:
    """From a copy of the sources (setuptools writes build/ and egg-info beside them)."""
    source = folder / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("newsletter", "workers"):
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    run(
        [
            *PIP,
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(folder / "dist"),
            str(source),
        ]
    )
    [wheel] = (folder / "dist").glob("newsletter-*.whl")
    return wheel


def wheelhouse(wheel: Path) -> Path:
    """Wheels of every dependency, kept between runs for this set of dependencies."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    digest = hashlib.sha256("\n".join(sorted(project["dependencies"])).encode()).hexdigest()
    house = ROOT / ".venv" / "wheelhouse" / digest[:16]
    if not (house / ".complete").exists():
        shutil.rmtree(house, ignore_errors=True)
        run([*PIP, "wheel", "-w", str(house), str(wheel)])
        (house / ".complete").touch()
    return house


# Build, install and a whole demo: on a loaded 2-core machine more than the suite's 300 s.
@pytest.mark.timeout(900)
def test_the_wheel_installs_into_a_fresh_venv_and_runs_the_demo(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    files = set(zipfile.ZipFile(wheel).namelist())
    for packaged in (
        "newsletter/templates/email/digest.html.j2",
        "newsletter/templates/web/staff/dashboard.html",
        "newsletter/web/static/style.css",
        "newsletter/migrations/versions/0001_initial_schema.py",
        "newsletter/samples/members.csv",
        "workers/celery_app.py",
    ):
        assert packaged in files, f"{packaged} is not in the wheel"

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    house = wheelhouse(wheel)
    # --no-compile: byte-compiling every dependency was three quarters of the install's time.
    install = ["install", "--no-compile", "--no-index", "--find-links", str(house), str(wheel)]
    run([*PIP, "--python", str(python), *install])

    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "PYTHON"))}
    where = run(
        [str(python), "-c", "import newsletter; print(newsletter.__file__)"], cwd=empty, env=env
    )
    assert where.stdout.startswith(str(venv)), where.stdout
    demo = run([str(venv / "bin" / "newsletter"), "demo"], cwd=empty, env={**env, "COLUMNS": "120"})
    outbox = empty / "var" / "demo" / "outbox"
    emails = list(outbox.glob("*.eml"))
    assert emails and f"{len(emails)} emails caught" in demo.stdout
    assert {p.stem for p in (empty / "var" / "demo" / "previews").glob("*.html")} >= {"digest"}

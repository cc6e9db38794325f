"""The tests mirror the source tree: tests/<kind>/<package>/ holds the tests of that package."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Kinds of test whose folders follow the source tree; the others (browser, faults, security,
# project) are organised by what they exercise across the whole service.
MIRRORED = ("unit", "integration")


# Source packages beside newsletter/ (a test folder of that name stands for them).
TOP_LEVEL = ("workers", "bench")


def _source_package(folder: Path) -> Path:
    """The package a test folder stands for: tests/unit/delivery/backends -> newsletter/...;
    tests/integration/workers -> workers/; tests/unit/bench -> bench/."""
    parts = folder.parts
    if parts[0] in TOP_LEVEL:
        return ROOT / folder
    return ROOT / "newsletter" / folder


def _test_folders(kind: str) -> list[Path]:
    base = ROOT / "tests" / kind
    return sorted(
        path.parent.relative_to(base) for path in base.rglob("test_*.py") if path.parent != base
    )


@pytest.mark.parametrize("kind", MIRRORED)
def test_each_test_folder_is_a_source_package(kind: str) -> None:
    strays = [
        f"tests/{kind}/{folder}"
        for folder in dict.fromkeys(_test_folders(kind))
        if not _source_package(folder).is_dir()
    ]
    assert not strays, f"test folders with no source folder of that name: {strays}"


def test_every_test_folder_is_a_package() -> None:
    missing = [
        str(folder.relative_to(ROOT))
        for folder in (ROOT / "tests").rglob("*")
        if folder.is_dir()
        and any(folder.glob("test_*.py"))
        and not (folder / "__init__.py").exists()
    ]
    assert not missing, (
        f"test folders without __init__.py (pytest would confuse same names): {missing}"
    )


def test_no_test_module_imports_from_another() -> None:
    """What tests share lives in tests/support/ (or a folder's conftest.py), not in a test."""
    pattern = re.compile(
        r"^\s*from (tests\.[\w.]*\.test_\w+) import|^\s*import (tests\.[\w.]*\.test_\w+)", re.M
    )
    offenders = [
        f"{path.relative_to(ROOT)} imports {next(filter(None, match))}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for match in pattern.findall(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, offenders

"""docs/architecture.md names real files and functions, and the import rules it draws are the
ones import-linter checks, so that the walk-through stays true after renames."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
# `delivery/ledger.py`, `newsletter/web/console/`, `workers/tasks.py`
PATH = re.compile(r"`((?:newsletter/|workers/|docs/)?[a-z_/]+(?:\.py|/))`")
# `batches.py: run_batch()`, `rendering/emails.py: prepare_alert()`
DEFINED = re.compile(r"`([a-z_/]+\.py): ([A-Za-z_]+)(?:\(\))?`")


def _where(path: str) -> Path | None:
    """A path as the document writes it: from the repository, or from newsletter/."""
    for base in (ROOT, ROOT / "newsletter", ROOT / "newsletter" / "delivery"):
        if (base / path).exists():
            return base / path
    return None


def test_every_path_named_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = sorted({p for p in PATH.findall(text) if _where(p) is None})
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_every_function_named_is_defined_there() -> None:
    text = DOC.read_text(encoding="utf-8")
    wrong = []
    for path, name in DEFINED.findall(text):
        where = _where(path)
        source = where.read_text(encoding="utf-8") if where else ""
        if not re.search(rf"^\s*(?:async def|def|class) {name}\b", source, re.MULTILINE):
            wrong.append(f"{path}: {name}")
    assert not wrong, f"docs/architecture.md names what these files do not define: {wrong}"


def test_the_layers_drawn_are_the_layers_checked() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in contracts if c["type"] == "layers")
    drawn = re.findall(r'\["([^"]+)"\]', DOC.read_text(encoding="utf-8"))
    assert [name.replace(" · ", " | ") for name in drawn] == layers

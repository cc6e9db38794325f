"""Importing the Celery app and its tasks creates nothing: no VAR_DIR, no broker file or table.

The embedded broker's file is made by the first process that uses it (a producer, a worker or
beat starting), not by whoever imports the module (a linter, a test collector, the CLI's help).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from pathlib import Path

import workers.celery_app
import workers.tasks  # noqa: F401

made = sorted(str(p) for p in Path.cwd().rglob("*"))
print("after import:", made)
if made:
    sys.exit(1)
from newsletter.config import get_settings

workers.celery_app.prepare_broker(get_settings())
print("after prepare_broker:", sorted(p.name for p in Path.cwd().rglob("*")))
"""


def _clean_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    return {**env, "HOME": str(folder), "NEWSLETTER_BROKER_URL": "embedded"}


def test_importing_the_worker_modules_creates_no_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_clean_env(tmp_path),
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "after import: []" in done.stdout
    # The same settings, once the broker is used, do make its file under VAR_DIR (./var).
    assert (tmp_path / "var" / "broker.sqlite").exists()

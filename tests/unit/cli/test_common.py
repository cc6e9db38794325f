"""The commands' consoles are made when first used (so `sends show --json` starts without
rich; tests/integration/cli/test_lazy.py), and are then whole rich consoles: printing, progress
bars, `with console:`."""

from __future__ import annotations

import io
import sys

import pytest
from rich.progress import Progress

from newsletter.cli.common import console, errors


def test_a_progress_bar_runs_on_the_console(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    with Progress(console=errors) as bar:  # rich's Live enters the console: `with console:`
        task = bar.add_task("send 7", total=2)
        bar.update(task, completed=2)
    assert "send 7" in out.getvalue()


def test_the_console_prints_markup_and_can_be_entered(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    with console:
        console.print("[bold]Send 7[/] sent", highlight=False)
    assert out.getvalue() == "Send 7 sent\n"

"""`newsletter demo`: run the whole service on the embedded default and show what was sent."""

from __future__ import annotations

from pathlib import Path

import typer

from newsletter.cli.common import console


def demo(
    var_dir: Path = typer.Option(
        Path("var/demo"), "--var-dir", help="Where the demo keeps its data."
    ),
) -> None:
    """Set up a database, members and articles, send alerts and digests, and show the results."""
    from newsletter import demo as demo_run  # the demo's imports are heavy; only it pays

    demo_run.run(console, var_dir.resolve())

"""Run the real `newsletter inbound serve` in a child process on a free port of 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.servers import free_port, wait_for_port
from tests.support.worker import ROOT, child_env


@contextmanager
def inbound_server(env: dict[str, str], log: Path) -> Iterator[int]:
    """Yields the port once the server listens; stops it (SIGTERM) afterwards."""
    port = free_port()
    argv = [sys.executable, "-m", "newsletter", "inbound", "serve", "--host", "127.0.0.1"]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*argv, "--port", str(port)],
            env=child_env(env),
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            wait_for_port(port, timeout=60)
        except TimeoutError:
            raise RuntimeError(f"inbound serve did not start:\n{log.read_text()}") from None
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

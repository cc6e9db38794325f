"""Run the web app under a real uvicorn on 127.0.0.1 for the length of a test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def uvicorn_server(
    log_file: Path,
    factory: str = "newsletter.web.app:create_app",
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """The app's base URL; settings come from the NEWSLETTER_* environment of the test, with
    NEWSLETTER_BASE_URL pointing at this server so the links in its emails lead back to it.
    `factory` makes the app (a test may wrap the product's), `env` adds to the environment."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with open(log_file, "wb") as log:
        env = {**os.environ, **(env or {}), "NEWSLETTER_BASE_URL": url}
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, timeout=120)  # a loaded machine imports the app slowly
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

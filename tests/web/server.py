"""Run the web app under a real uvicorn on 127.0.0.1 for the length of a test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
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
    with _running(command, port, log_file, env or {}) as url:
        yield url


@contextmanager
def newsletter_serve(log_file: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """`newsletter serve` itself (its start-up checks, its uvicorn options), as an operator
    runs it; `env` adds to the test's environment (e.g. FORWARDED_ALLOW_IPS)."""
    port = free_port()
    command = [sys.executable, "-m", "newsletter", "serve", "--host", "127.0.0.1"]
    with _running([*command, "--port", str(port)], port, log_file, env or {}) as url:
        yield url


@contextmanager
def _running(command: list[str], port: int, log_file: Path, env: dict[str, str]) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    with open(log_file, "wb") as log:
        env = {**os.environ, "NEWSLETTER_BASE_URL": url, **env}
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_listening(process, port, log_file)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log_file: Path) -> None:
    """Like wait_for_port, but a server that stopped at start says why at once."""
    deadline = time.monotonic() + 120  # a loaded machine imports the app slowly
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped at start: {log_file.read_text()[-2000:]}")
        try:
            wait_for_port(port, timeout=0.5)
            return
        except TimeoutError:
            if time.monotonic() > deadline:
                raise

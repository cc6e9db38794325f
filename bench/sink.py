"""Postfix's smtp-sink on 127.0.0.1: takes mail as fast as a client can hand it over, keeps none.

A Python sink (aiosmtpd) tops out at a few hundred messages a second here and would measure
itself. smtp-sink comes with the Debian package `postfix`; installing it must not leave a Postfix
daemon running, so `ensure_installed` stops one if the install started it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import free_port, wait_for_port

HOST = "127.0.0.1"
BACKLOG = "256"
_COUNTER = re.compile(rb"mesg=(\d+)")


def ensure_installed() -> str:
    """The path of smtp-sink, installing the `postfix` package first when it is missing."""
    found = shutil.which("smtp-sink") or shutil.which("smtp-sink", path="/usr/sbin")
    if found:
        return found
    print("smtp-sink is missing: installing the Debian package postfix", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "postfix"],
        check=True,
        env=env,
        timeout=900,
        stdout=subprocess.DEVNULL,
    )
    stop_postfix_daemon()
    found = shutil.which("smtp-sink") or shutil.which("smtp-sink", path="/usr/sbin")
    if not found:
        raise RuntimeError("smtp-sink is still missing after installing postfix")
    return found


def stop_postfix_daemon() -> None:
    """Stop a Postfix master process that a package install may have started."""
    subprocess.run(["postfix", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    masters = subprocess.run(
        ["pgrep", "-f", "postfix/master"], capture_output=True, text=True
    ).stdout.split()
    for pid in masters:
        os.kill(int(pid), signal.SIGTERM)


@dataclass
class Sink:
    port: int
    pid: int
    counter_file: Path

    def accepted(self) -> int:
        """Messages the sink has taken (its `-c` counter; exact once the sink has stopped)."""
        with open(self.counter_file, "rb") as counter:  # its end only: it grows by each message
            counter.seek(max(0, counter.seek(0, os.SEEK_END) - 200))
            found = _COUNTER.findall(counter.read())
        return int(found[-1]) if found else 0


class MessageWatch:
    """When the sink took its next message after the `after` it had: a thread reads the sink's
    counter (written as each message is accepted) every few milliseconds until it moves."""

    def __init__(self, sink: Sink, after: int, interval: float = 0.005) -> None:
        self.at: float | None = None  # time.time() when the counter was seen past `after`
        self._sink, self._after, self._interval = sink, after, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sink-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._sink.accepted() > self._after:
                self.at = time.time()
                return
            time.sleep(self._interval)

    def wait(self, timeout: float) -> float:
        """The time it was seen; raises if the sink took nothing more within `timeout`."""
        self._thread.join(timeout)
        if self.at is None:
            self.stop()
            raise TimeoutError(f"the sink took no message after its {self._after:,} in {timeout}s")
        return self.at

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@contextmanager
def smtp_sink(workdir: Path) -> Iterator[Sink]:
    """An smtp-sink on a free port of 127.0.0.1, stopped when the block ends."""
    binary = ensure_installed()
    port = free_port()
    counter_file = workdir / "smtp-sink.out"
    argv = [binary, "-c", f"{HOST}:{port}", BACKLOG]
    if os.geteuid() == 0:
        argv[1:1] = ["-u", "nobody"]  # required when started as root
    with open(counter_file, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=10)
        yield Sink(port, process.pid, counter_file)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

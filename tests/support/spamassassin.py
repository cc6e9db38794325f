"""Debian's SpamAssassin as a test server: one `spamd` on 127.0.0.1, network tests off (-L),
and `spamc` to score a message with it (~2 s for the first, well under a second after).

`make test` installs the packages (spamassassin, spamd, spamc) when they are missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import free_port, stop_process, wait_for_port

RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s", re.M)
# Filled by the tests that score, printed at the end of the run (tests/conftest.py).
REPORT: list[str] = []


@dataclass(frozen=True)
class Score:
    total: float
    rules: dict[str, float]  # every rule that fired, with its points

    def describe(self) -> str:
        rules = ", ".join(f"{name} {points:+.1f}" for name, points in sorted(self.rules.items()))
        return f"{self.total:4.1f}  {rules}"


@dataclass(frozen=True)
class Spamd:
    port: int

    def score(self, message: bytes) -> Score:
        """The message's score and rules, as `spamc -R` reports them."""
        result = subprocess.run(
            ["spamc", "-d", "127.0.0.1", "-p", str(self.port), "-R", "-x"],
            input=message,
            capture_output=True,
            timeout=120,
            check=False,
        )
        report = result.stdout.decode("utf-8", "replace")
        first, _, details = report.partition("\n")
        if "/" not in first:
            raise RuntimeError(f"spamc gave no score (exit {result.returncode}): {report!r}")
        table = details.partition("Content analysis details:")[2]
        rules = {name: float(points) for points, name in RULE.findall(table)}
        return Score(float(first.split("/")[0]), rules)


def _spamd() -> str:
    found = shutil.which("spamd") or ("/usr/sbin/spamd" if Path("/usr/sbin/spamd").exists() else "")
    if not found or shutil.which("spamc") is None:
        raise RuntimeError("SpamAssassin is not installed: `make test` installs spamd and spamc")
    return found


@contextmanager
def spamd_server() -> Iterator[Spamd]:
    """spamd with network tests off and no per-user settings, on a free port of 127.0.0.1."""
    folder = Path(tempfile.mkdtemp(prefix="newsletter-spamd-"))
    port = free_port()
    command = [
        _spamd(), "--local", "--nouser-config", "--listen", f"127.0.0.1:{port}",
        "--allowed-ips", "127.0.0.1", "--max-children", "2", "--syslog", "stderr",
        "--pidfile", str(folder / "spamd.pid"),
    ]  # fmt: skip
    if os.geteuid() == 0:
        command += ["--username", "nobody"]  # spamd will not score as root
    log = open(folder / "spamd.log", "wb")  # noqa: SIM115 (closed in finally)
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=120)
        yield Spamd(port)
    finally:
        stop_process(process)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)

"""The SMTP test server as the fault scenarios use it: every accepted message timestamped, and
optionally flaky (421 and close, 451, or a connection dropped in the middle of DATA).

It is tests/support/smtp_server.py's server with two additions the scenarios need: the moment
each message was accepted (to compare with the moment an unsubscribe returned), and a 421 that
closes the connection as a real server does when it says 421.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.smtp_server import DEFER, Received, Script, SmtpTestServer, _Handler

CLOSING = "421 4.3.2 Service shutting down, closing channel (test server)"


@dataclass(frozen=True)
class Accepted:
    at: float  # time.time() when the server accepted it, before it answered 250
    rcpt: str


class _ClosingHandler(_Handler):
    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = await super().handle_RCPT(server, session, envelope, address, options)
        if reply.startswith("421") and server.transport is not None:
            # The reply is written before the loop runs this, and close() flushes it first.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return reply


class RecordingSmtpServer(SmtpTestServer):
    """Accepts everything (unless scripted otherwise) and remembers when it accepted what."""

    def __init__(self, script: Script | None = None) -> None:
        super().__init__(script=script)
        options = self._controller_options(None, False)
        self._controller = Controller(_ClosingHandler(self), **options)
        self.accepted: list[Accepted] = []

    def record(self, message: Received) -> int:
        at = time.time()
        with self._lock:
            self.accepted.extend(Accepted(at, rcpt) for rcpt in message.rcpt_tos)
        return super().record(message)

    def copies(self) -> Counter[str]:
        """How many copies each address was accepted for."""
        with self._lock:
            return Counter(a.rcpt for a in self.accepted)

    def transactions(self) -> int:
        """Every RCPT TO the server was offered: one per attempt to hand over a message."""
        with self._lock:
            return sum(self._rcpt_attempts.values())


def flaky_script(refuse: float, drop: float, seed: int = 8) -> Script:
    """Refuse a share of transactions at RCPT (half 421 and close, half 451) and cut a share of
    the others in the middle of DATA, at random but the same way on every run."""
    chance = random.Random(seed)

    def rule(address: str, attempt: int) -> str | None:
        roll = chance.random()
        if roll < refuse / 2:
            return CLOSING
        if roll < refuse:
            return DEFER
        return None

    return Script(rule=rule, drop_fraction=drop, seed=seed)

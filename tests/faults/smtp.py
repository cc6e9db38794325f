"""The SMTP test server as the fault scenarios use it: every accepted message timestamped, and
optionally flaky (421 and close, 451, or a connection dropped in the middle of DATA), or
failing after DATA (451 once the message is in, or an answer later than the client waits).

It is tests/support/smtp_server.py's server with what the scenarios need besides: the moments
each message's transaction began (its RCPT) and was accepted, to compare with the moment an
unsubscribe returned; a 421 that closes the connection as a real server does when it says 421;
a hook run before each RCPT; and faults after DATA.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.smtp_server import DEFER, Received, Script, SmtpTestServer, _Handler

CLOSING = "421 4.3.2 Service shutting down, closing channel (test server)"


@dataclass(frozen=True)
class Accepted:
    at: float  # time.time() when the server accepted it, before it answered 250
    rcpt: str
    begun: float = 0.0  # time.time() when its transaction's RCPT arrived


AFTER_DATA_DEFER = "451 4.3.0 Could not store the message, try again (test server)"


class AfterData:
    """What the server does once a message is in: answer (None), refuse it with a 451
    ("defer"), or wait longer than the client does and then keep it ("slow-taken") or lose it
    ("slow-lost"). Chosen per transaction by `rule`; `answer_after` is the wait."""

    def __init__(self, rule: Callable[[tuple[str, ...]], str | None], answer_after: float) -> None:
        self.rule = rule
        self.answer_after = answer_after
        self.counts: Counter[str] = Counter()
        self.addresses: dict[str, set[str]] = defaultdict(set)  # fault -> its recipients


class _ClosingHandler(_Handler):
    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        owner = self.owner
        assert isinstance(owner, RecordingSmtpServer)
        if owner.before_rcpt is not None:
            await owner.before_rcpt(address)
        owner.rcpt_began(address)
        reply = await super().handle_RCPT(server, session, envelope, address, options)
        if reply.startswith("421") and server.transport is not None:
            # The reply is written before the loop runs this, and close() flushes it first.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        owner = self.owner
        assert isinstance(owner, RecordingSmtpServer)
        fault = owner.after_data.rule(tuple(envelope.rcpt_tos)) if owner.after_data else None
        if fault is None:
            return await super().handle_DATA(server, session, envelope)
        assert owner.after_data is not None
        owner.after_data.counts[fault] += 1
        owner.after_data.addresses[fault].update(envelope.rcpt_tos)
        if fault == "defer":
            return AFTER_DATA_DEFER
        if fault == "slow-taken":
            reply = await super().handle_DATA(server, session, envelope)
            await asyncio.sleep(owner.after_data.answer_after)
            return reply
        await asyncio.sleep(owner.after_data.answer_after)  # slow-lost: never kept
        return AFTER_DATA_DEFER


class RecordingSmtpServer(SmtpTestServer):
    """Accepts everything (unless scripted otherwise) and remembers when it accepted what."""

    def __init__(
        self,
        script: Script | None = None,
        *,
        before_rcpt: Callable[[str], Awaitable[None]] | None = None,
        after_data: AfterData | None = None,
    ) -> None:
        super().__init__(script=script)
        self.before_rcpt = before_rcpt
        self.after_data = after_data
        options = self._controller_options(None, False)
        self._controller = Controller(_ClosingHandler(self), **options)
        self.accepted: list[Accepted] = []
        self._began: dict[str, float] = {}

    def rcpt_began(self, address: str) -> None:
        with self._lock:
            self._began[address] = time.time()

    def record(self, message: Received) -> int:
        at = time.time()
        with self._lock:
            self.accepted.extend(
                Accepted(at, rcpt, self._began.get(rcpt, 0.0)) for rcpt in message.rcpt_tos
            )
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

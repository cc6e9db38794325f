"""`newsletter inbound serve`: an SMTP server (aiosmtpd) for the bounce and unsubscribe
addresses, for sites that point an MX record or a transport at it.

It accepts mail only for our own return and unsubscribe addresses (anything else, any other
domain, is refused with 550: it never relays), refuses messages over
INBOUND_MAX_MESSAGE_BYTES (552) and clients sending more than INBOUND_MESSAGES_PER_MINUTE
(450), and answers a message only once the processor has recorded it: if the database is
away it answers 451, so the sending server keeps the message and tries again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict, deque
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from newsletter.config import Settings
from newsletter.inbound import verp
from newsletter.inbound.process import process_message

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 20
NOT_OURS = "550 5.1.1 No such mailbox here: this server takes bounces and unsubscribes only"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
SLOW_DOWN = "450 4.7.1 Too many messages from your address; try again later"
TRY_LATER = "451 4.3.0 Could not record the message; try again later"


class RateLimit:
    """At most `per_minute` messages from one client address in any 60 seconds."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            times = self._seen[client]
            while times and times[0] <= now - 60:
                times.popleft()
            if len(times) >= self.per_minute:
                return False
            times.append(now)
            return True


class InboundHandler:
    """aiosmtpd hooks; processing runs in a thread so the server keeps answering others."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.addresses = verp.addresses(settings)
        self.limit = RateLimit(settings.INBOUND_MESSAGES_PER_MINUTE)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        client = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        if not self.limit.allow(client):
            return SLOW_DOWN
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not self.addresses.role_of(address)[0]:
            return NOT_OURS
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return TOO_MANY_RECIPIENTS
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(
                None, process_message, raw, "smtp", tuple(envelope.rcpt_tos), self.settings
            )
        except Exception:
            log.exception("could not record an inbound message")
            return TRY_LATER
        kinds = ", ".join(sorted({r.kind for r in results})) or "nothing"
        return f"250 2.0.0 Thank you: {kinds}"


def controller(settings: Settings, host: str, port: int) -> Controller:
    """The server, ready to start() (in a thread of its own) and stop()."""
    options: dict[str, Any] = {
        "hostname": host,
        "port": port,
        "data_size_limit": settings.INBOUND_MAX_MESSAGE_BYTES,
        "server_hostname": verp.addresses(settings).domain,
        "ready_timeout": 30.0,
    }
    return Controller(InboundHandler(settings), **options)


def serve_forever(settings: Settings, host: str, port: int) -> None:
    """Run until SIGINT or SIGTERM."""
    import signal

    server = controller(settings, host, port)
    stop = threading.Event()
    for name in ("SIGINT", "SIGTERM"):
        signal.signal(getattr(signal, name), lambda *_: stop.set())
    server.start()
    try:
        stop.wait()
    finally:
        server.stop()

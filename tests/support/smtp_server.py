"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests, scriptable per recipient.

In the test process (runs in a thread):

    with SmtpTestServer(defer={"ann@example.com": 2}, reject={"bob@example.com": REJECT}) as smtp:
        ...  # point NEWSLETTER_SMTP_HOST/PORT at smtp.env(), send, then look at smtp.messages

Standalone, e.g. for a worker process to send to (accepted mail lands in DIR as .eml files):

    python -m tests.support.smtp_server --port P --outbox DIR [--defer ADDR:N] [--reject ADDR]

It is strict where real servers are: mail with a bare LF or CR is refused, so a message built
with the wrong line endings fails here instead of passing through a lenient sink.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import itertools
import json
import os
import random
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.servers import free_port, wait_for_port

HOST = "127.0.0.1"
DEFER = "451 4.3.0 Try again later (test server)"
REJECT = "550 5.1.1 No such user here (test server)"
AUTH_REQUIRED = "530 5.7.0 Authentication required"
BARE_LINE_BREAK = "554 5.6.0 Bare LF or CR in message data (RFC 5321 2.3.8)"
_BARE_LINE_BREAK = re.compile(rb"(?<!\r)\n|\r(?!\n)")

# Decides the reply to RCPT TO: (address, how many times it has been offered, from 1) -> a full
# reply line such as "451 4.3.0 later", or None to accept.
RcptRule = Callable[[str, int], "str | None"]


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    def parsed(self) -> EmailMessage:
        message = email.message_from_bytes(self.data, policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class Script:
    """What the server does besides accepting: all of it optional."""

    defer: Mapping[str, int] = field(default_factory=dict)  # 451 the first N times
    reject: Mapping[str, str] = field(default_factory=dict)  # address -> reply, every time
    rule: RcptRule | None = None  # consulted first, for anything the maps cannot say
    drop: Mapping[str, int] = field(default_factory=dict)  # cut the first N DATA to these
    drop_fraction: float = 0.0  # cut this share of all DATA transactions, at random
    seed: int = 0
    delay: float = 0.0  # seconds before answering each DATA: a slow or stalled server
    # Awaited once the message is in, before it is taken and answered (recipients): a server
    # that is slow to answer DATA. It runs in the server's event loop.
    before_data_reply: Callable[[tuple[str, ...]], Awaitable[None]] | None = None

    def rcpt_reply(self, address: str, attempt: int) -> str | None:
        if self.rule is not None and (reply := self.rule(address, attempt)) is not None:
            return reply
        if address in self.reject:
            return self.reject[address]
        if attempt <= self.defer.get(address, 0):
            return DEFER
        return None


class _Handler:
    """aiosmtpd hooks; they run in the server's event-loop thread."""

    def __init__(self, owner: SmtpTestServer) -> None:
        self.owner = owner

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if not self.owner.pipelining:
            return responses
        # aiosmtpd reads commands one after another anyway; it just does not say so.
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.owner.credentials is not None and not session.authenticated:
            return AUTH_REQUIRED
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.owner.rcpt_reply(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.owner.script.delay:
            await asyncio.sleep(self.owner.script.delay)
        data = envelope.original_content or b""
        if self.owner.strict_line_endings and _BARE_LINE_BREAK.search(data):
            return BARE_LINE_BREAK
        if self.owner.script.before_data_reply is not None:
            await self.owner.script.before_data_reply(tuple(envelope.rcpt_tos))
        if self.owner.should_drop(envelope.rcpt_tos):
            # Vanish before the final reply, as a crashing server or a broken network would.
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()
            return "421 4.4.2 Connection dropped (test server)"
        number = self.owner.record(
            Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), bytes(data))
        )
        return f"250 2.0.0 OK queued as {number}"


class SmtpTestServer:
    """An aiosmtpd server on 127.0.0.1 in a background thread; a context manager."""

    host = HOST

    def __init__(
        self,
        port: int | None = None,
        *,
        outbox: Path | None = None,
        script: Script | None = None,
        defer: Mapping[str, int] | None = None,
        reject: Mapping[str, str] | None = None,
        credentials: tuple[str, str] | None = None,
        tls_cert: tuple[Path, Path] | None = None,
        implicit_tls: bool = False,
        strict_line_endings: bool = True,
        pipelining: bool = True,
    ) -> None:
        self.port = port or free_port()
        self.outbox = outbox
        self.script = script or Script()
        if defer or reject:
            self.script.defer = {**self.script.defer, **(defer or {})}
            self.script.reject = {**self.script.reject, **(reject or {})}
        self.credentials = credentials
        self.strict_line_endings = strict_line_endings
        self.pipelining = pipelining
        self._random = random.Random(self.script.seed)
        self._lock = threading.Condition()
        self._received: list[Received] = []
        self._rcpt_attempts: Counter[str] = Counter()
        self._data_attempts: Counter[str] = Counter()
        self._numbers = itertools.count(1)
        self._controller = Controller(
            _Handler(self), **self._controller_options(tls_cert, implicit_tls)
        )

    def _controller_options(
        self, tls_cert: tuple[Path, Path] | None, implicit_tls: bool
    ) -> dict[str, Any]:
        options: dict[str, Any] = {
            "hostname": HOST,
            "port": self.port,
            "server_hostname": "smtp-test.localhost",
            "ready_timeout": 30.0,
        }
        if self.credentials is not None:
            options["authenticator"] = self._authenticate
            # Tests log in over plain TCP unless they test STARTTLS; implicit TLS is invisible
            # to aiosmtpd, which would otherwise refuse AUTH on it.
            options["auth_require_tls"] = tls_cert is not None and not implicit_tls
        if tls_cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls_cert)
            options["ssl_context" if implicit_tls else "tls_context"] = context
        return options

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self.credentials is not None
        user, password = self.credentials
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        # handled=False: aiosmtpd itself answers a failure with 535.
        return AuthResult(success=ok, handled=False)

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> SmtpTestServer:
        if self.outbox is not None:
            self.outbox.mkdir(parents=True, exist_ok=True)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop_listening(self) -> None:
        """Refuse new connections from now on; open sessions carry on. Safe inside a rule."""
        server = self._controller.server
        assert server is not None
        self._controller.loop.call_soon_threadsafe(server.close)

    def env(self) -> dict[str, str]:
        """Environment variables that point the service's smtp backend at this server."""
        return {
            "NEWSLETTER_EMAIL_BACKEND": "smtp",
            "NEWSLETTER_SMTP_HOST": HOST,
            "NEWSLETTER_SMTP_PORT": str(self.port),
        }

    # -- what tests look at -----------------------------------------------------------------

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def recipients(self) -> list[str]:
        """Every accepted envelope recipient, one entry per delivered copy."""
        return [rcpt for message in self.messages for rcpt in message.rcpt_tos]

    def rcpt_attempts(self, address: str) -> int:
        with self._lock:
            return self._rcpt_attempts[address]

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Received]:
        """Block until at least `count` messages were accepted; raise TimeoutError otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._received) >= count, timeout):
                raise TimeoutError(f"{len(self._received)} of {count} messages after {timeout}s")
            return list(self._received)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
            self._rcpt_attempts.clear()
            self._data_attempts.clear()

    # -- called by the handler --------------------------------------------------------------

    def rcpt_reply(self, address: str) -> str | None:
        with self._lock:
            self._rcpt_attempts[address] += 1
            attempt = self._rcpt_attempts[address]
        return self.script.rcpt_reply(address, attempt)

    def should_drop(self, rcpt_tos: Sequence[str]) -> bool:
        with self._lock:
            self._data_attempts.update(rcpt_tos)
            scripted = any(self._data_attempts[a] <= self.script.drop.get(a, 0) for a in rcpt_tos)
            return scripted or self._random.random() < self.script.drop_fraction

    def record(self, message: Received) -> int:
        with self._lock:
            number = next(self._numbers)
            if self.outbox is not None:
                write_received(self.outbox, number, message)
            self._received.append(message)
            self._lock.notify_all()
        return number


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def write_received(folder: Path, number: int, message: Received) -> None:
    """<n>.json (the envelope) then <n>.eml, so a reader that sees the .eml finds both."""
    stem = f"{os.getpid()}-{number:06d}"
    envelope = {"mail_from": message.mail_from, "rcpt_tos": list(message.rcpt_tos)}
    _write_atomically(folder / f"{stem}.json", json.dumps(envelope).encode())
    _write_atomically(folder / f"{stem}.eml", message.data)


def read_outbox(folder: Path) -> list[Received]:
    """What a server (in any process) has written into `folder`, oldest first."""
    received = []
    for eml in sorted(folder.glob("*.eml"), key=lambda p: (p.stat().st_mtime_ns, p.name)):
        envelope = json.loads(eml.with_suffix(".json").read_text())
        received.append(
            Received(envelope["mail_from"], tuple(envelope["rcpt_tos"]), eml.read_bytes())
        )
    return received


@contextmanager
def smtp_server_process(outbox: Path, *args: str) -> Iterator[int]:
    """Run the standalone server in a child process; yields its port."""
    port = free_port()
    argv = [sys.executable, "-m", "tests.support.smtp_server", "--port", str(port)]
    process = subprocess.Popen([*argv, "--outbox", str(outbox), *args])
    try:
        wait_for_port(port)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def _address_count(value: str) -> tuple[str, int]:
    address, _, count = value.rpartition(":")
    return address, int(count)


def _address_reply(value: str) -> tuple[str, str]:
    address, _, reply = value.partition("=")
    return address, reply or REJECT


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--outbox", type=Path, help="write each accepted message here")
    parser.add_argument(
        "--defer",
        type=_address_count,
        action="append",
        default=[],
        metavar="ADDR:N",
        help="answer 451 to ADDR the first N times",
    )
    parser.add_argument(
        "--reject",
        type=_address_reply,
        action="append",
        default=[],
        metavar="ADDR[=REPLY]",
        help=f"always refuse ADDR (default {REJECT!r})",
    )
    parser.add_argument(
        "--drop",
        type=_address_count,
        action="append",
        default=[],
        metavar="ADDR:N",
        help="drop the connection in the first N DATA to ADDR",
    )
    parser.add_argument("--drop-fraction", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--username")
    parser.add_argument("--password", default="")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse_args(argv)
    script = Script(
        defer=dict(args.defer),
        reject=dict(args.reject),
        drop=dict(args.drop),
        drop_fraction=args.drop_fraction,
        seed=args.seed,
    )
    credentials = (args.username, args.password) if args.username else None
    server = SmtpTestServer(args.port, outbox=args.outbox, script=script, credentials=credentials)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    with server:
        print(f"SMTP test server listening on {HOST}:{server.port}", flush=True)
        while not stopping.wait(0.5):
            pass
    print(f"SMTP test server stopped after {len(server.messages)} messages", flush=True)


if __name__ == "__main__":
    main()

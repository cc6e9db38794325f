"""A local SMTP server that catches mail into a folder (.eml files and an index.html).

`make demo` sends through real SMTP to this, so the demo exercises the same backend as
production while nothing leaves the machine.
"""

from __future__ import annotations

import email.utils
import socket
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from newsletter.delivery.backends.file import FileConnection
from newsletter.rendering import OutgoingMessage


class _CatchHandler:
    def __init__(self, folder: Path) -> None:
        self.connection = FileConnection(folder)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        data: bytes = envelope.original_content or envelope.content
        headers = BytesHeaderParser().parsebytes(data)
        message_id = headers.get("Message-ID") or email.utils.make_msgid(domain="catcher.local")
        self.connection.send_batch([OutgoingMessage(envelope.rcpt_tos[0], message_id, data)])
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MailCatcher:
    """Start with `with MailCatcher(folder) as catcher:`; `catcher.port` is where to send."""

    def __init__(self, folder: Path, port: int = 0) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.controller = Controller(
            _CatchHandler(folder), hostname="127.0.0.1", port=port or free_port()
        )

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def __enter__(self) -> MailCatcher:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def count(self) -> int:
        return len(list(self.folder.glob("*.eml")))

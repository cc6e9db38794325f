"""A backend that prints one line per message (recipient and subject) to stdout."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from email import policy
from email.parser import BytesHeaderParser
from typing import TYPE_CHECKING

from newsletter.config import Settings
from newsletter.delivery.backends.base import SENT_LOCALLY, SendResult

if TYPE_CHECKING:
    from newsletter.rendering import OutgoingMessage


def subject_of(data: bytes) -> str:
    """The decoded Subject header of a raw message, or an empty string."""
    headers = BytesHeaderParser(policy=policy.default).parsebytes(data)
    return str(headers.get("Subject", ""))


class ConsoleConnection:
    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        for message in messages:
            # sys.stdout is looked up per call so redirected output is honoured.
            print(f"email to {message.to}: {subject_of(message.data)}", file=sys.stdout)
        return [SENT_LOCALLY for _ in messages]

    def close(self) -> None:
        sys.stdout.flush()


class ConsoleBackend:
    name = "console"

    def __init__(self, settings: Settings) -> None:
        pass

    def open(self) -> ConsoleConnection:
        return ConsoleConnection()

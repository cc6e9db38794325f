"""The backend protocol: open a connection, send a batch, get one result per message, close."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from newsletter.rendering import OutgoingMessage


class Outcome(StrEnum):
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    code: int | None = None
    detail: str = ""
    # True for a 5xx saying the recipient does not exist (550, 551, 553): the ledger
    # suppresses the address.
    hard_bounce: bool = False


class Connection(Protocol):
    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """One result per message, in order. Never raises for a problem with one message;
        messages that could not be handed over are DEFERRED."""
        ...

    def close(self) -> None: ...


class Backend(Protocol):
    name: str

    def open(self) -> Connection:
        """Raises BackendUnavailable, naming host:port or the reason, when it cannot connect
        or log in at all."""
        ...


class BackendUnavailable(Exception):
    """The backend cannot take mail at all right now (unreachable, refused login...)."""


class UnknownBackend(Exception):
    """No built-in backend or entry point has the configured name."""


SENT_LOCALLY = SendResult(Outcome.SENT, 250, "accepted")

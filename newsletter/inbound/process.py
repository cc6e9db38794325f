"""The one processor every way in feeds: classify, recognise a repeat, act, in one
transaction.

A message is processed once: its key (the Message-ID, or the content's hash when it has
none; a provider's own event id for webhooks) is stored with its events under a unique
constraint, so a re-poll, a replay or a webhook retried by the provider changes nothing
more, even when two receivers take the same message at the same moment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from newsletter.config import Settings, get_settings
from newsletter.db import session_scope
from newsletter.inbound import act, verp
from newsletter.inbound.classify import Classification, classify
from newsletter.models import InboundEvent
from newsletter.observability import metrics

EVIDENCE_CHARS = 64_000


@dataclass(frozen=True)
class Result:
    """What happened to one recipient of one message (the `--json` output)."""

    kind: str
    recipient: str
    action: str
    status: str
    diagnostic: str
    delivery_id: int | None
    member_id: int | None
    send_id: int | None
    cause: str
    reason: str
    duplicate: bool = False

    @classmethod
    def of(cls, event: InboundEvent) -> Result:
        return cls(
            kind=event.kind.value,
            recipient=event.email,
            action=event.action,
            status=event.status,
            diagnostic=event.diagnostic,
            delivery_id=event.delivery_id,
            member_id=event.member_id,
            send_id=event.send_id,
            cause=event.cause,
            reason=event.reason,
        )

    @classmethod
    def repeat(cls, classified: Classification) -> Result:
        recipient = classified.failures[0].recipient if classified.failures else ""
        return cls(
            kind=classified.kind.value,
            recipient=recipient,
            action="nothing: already processed",
            status="",
            diagnostic="",
            delivery_id=None,
            member_id=None,
            send_id=None,
            cause="",
            reason=classified.reason,
            duplicate=True,
        )

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "recipient": self.recipient,
            "action": self.action,
            "status": self.status,
            "diagnostic": self.diagnostic,
            "cause": self.cause,
            "reason": self.reason,
        }
        for name in ("delivery_id", "member_id", "send_id"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.duplicate:
            data["duplicate"] = True
        return data


def message_key(raw: bytes, message_id: str) -> str:
    """How a message is recognised when it comes again."""
    if message_id.strip():
        return "mid:" + hashlib.sha256(message_id.strip().encode()).hexdigest()
    return "sha:" + hashlib.sha256(raw).hexdigest()


def evidence_of(raw: bytes) -> str:
    text = raw[: EVIDENCE_CHARS * 2].decode("utf-8", "replace")
    if len(text) > EVIDENCE_CHARS or len(raw) > EVIDENCE_CHARS * 2:
        return text[:EVIDENCE_CHARS] + f"\n[... shortened: {len(raw):,} bytes in all]"
    return text


def process_message(
    raw: bytes,
    source: str,
    envelope_recipients: Sequence[str] = (),
    settings: Settings | None = None,
    now: datetime | None = None,
) -> list[Result]:
    """Classify and act on one message; returns one result per recipient it names."""
    settings = settings or get_settings()
    addresses = verp.addresses(settings)
    classified = classify(raw, addresses, envelope_recipients, settings.INBOUND_MAX_MESSAGE_BYTES)
    key = message_key(raw, classified.message_id)
    return process_classified(
        classified, act.Incoming(key, source, evidence_of(raw)), settings, now
    )


def process_classified(
    classified: Classification,
    incoming: act.Incoming,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> list[Result]:
    """Act on something already classified (a provider's webhook event, a parsed message)."""
    settings = settings or get_settings()
    addresses = verp.addresses(settings)
    try:
        with session_scope() as session:
            if act.already_processed(session, incoming.key):
                return [Result.repeat(classified)]
            events = act.apply(session, classified, incoming, addresses, settings, now)
            results = [Result.of(event) for event in events]
    except IntegrityError:
        # Another receiver recorded the same message between our check and our commit.
        return [Result.repeat(classified)]
    for result in results:  # repeats are not counted again
        metrics.count_inbound(result.kind)
    return results

"""Provider webhooks, for sites that send through an email service instead of their own MTA:
Amazon SES (through SNS, signature checked against the signing certificate) and Mailgun
(HMAC signature with the webhook signing key). Each event becomes a Classification and goes
through the same processor as a bounce that came by mail; the provider's own event id is
the key that makes a retried webhook change nothing more.

A request whose signature does not check out raises Refused (the web layer answers 401)
before anything is read from it or written.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from newsletter.config import Settings
from newsletter.inbound import act, sns, verp
from newsletter.inbound.causes import Cause, judge
from newsletter.inbound.classify import UNSUBSCRIBE_IN_URL, Classification, Failure, unknown
from newsletter.inbound.process import Result, process_classified
from newsletter.models import InboundKind

EVIDENCE_CHARS = 64_000


class Refused(Exception):
    """The request is not from the provider (bad signature, unknown topic)."""


class NotConfigured(Exception):
    """This webhook is off: its settings are not set."""


class Malformed(ValueError):
    """Signed (or not yet checked) but not a request we can read."""


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Malformed("the body is not JSON") from None
    if not isinstance(data, dict):
        raise Malformed("the body is not a JSON object")
    return data


def _evidence(body: bytes) -> str:
    return body[:EVIDENCE_CHARS].decode("utf-8", "replace")


# --- Amazon SES through SNS ----------------------------------------------------------------


def receive_ses(body: bytes, settings: Settings) -> list[Result] | str:
    """Check and act on one SNS request; returns the results, or what was done instead."""
    if not settings.SES_TOPIC_ARNS:
        raise NotConfigured("set NEWSLETTER_SES_TOPIC_ARNS to receive SES notifications")
    message = _json(body)
    try:
        sns.verify(message, settings.SNS_CERT_URL_PATTERN)
    except sns.BadMessage as exc:
        raise Refused(str(exc)) from None
    if message.get("TopicArn") not in settings.SES_TOPIC_ARNS:
        raise Refused("the notification is from a topic that is not ours")
    kind = message.get("Type")
    if kind == "SubscriptionConfirmation":
        try:
            sns.confirm_subscription(message)
        except sns.BadMessage as exc:
            raise Malformed(str(exc)) from None
        return "subscription confirmed"
    if kind != "Notification":
        return f"ignored ({kind})"
    try:
        notification = json.loads(str(message.get("Message", "")))
    except ValueError:
        raise Malformed("the notification's Message is not JSON") from None
    classified = from_ses(notification if isinstance(notification, dict) else {})
    incoming = act.Incoming(f"ses:{message.get('MessageId')}"[:100], "ses", _evidence(body))
    return process_classified(classified, incoming, settings)


def from_ses(notification: dict[str, Any]) -> Classification:
    """An SES event (Bounce, Complaint; Delivery and others are ignored) as a Classification."""
    kind = str(notification.get("notificationType") or notification.get("eventType") or "")
    mail = notification.get("mail") or {}
    base = _ses_base(mail)
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        failures = tuple(
            _ses_failure(bounce, r) for r in bounce.get("bouncedRecipients") or [] if r
        )
        if not failures:
            return unknown("an SES bounce naming no recipient", **base)
        return Classification(
            failures[0].kind,
            f"SES {bounce.get('bounceType')}/{bounce.get('bounceSubType')} bounce",
            failures=failures,
            **base,
        )
    if kind == "Complaint":
        complaint = notification.get("complaint") or {}
        recipients = complaint.get("complainedRecipients") or [{}]
        feedback = str(complaint.get("complaintFeedbackType") or "abuse")
        if feedback not in ("abuse", "fraud"):
            return unknown(f"an SES complaint of type {feedback!r}", **base)
        return Classification(
            InboundKind.COMPLAINT,
            f"SES complaint ({feedback})",
            complained_about=str(recipients[0].get("emailAddress", "")).lower(),
            feedback_type=feedback,
            **base,
        )
    return Classification(InboundKind.AUTO_REPLY, f"SES {kind or 'event'}: nothing to do", **base)


def _ses_base(mail: dict[str, Any]) -> dict[str, Any]:
    headers = {
        str(h.get("name", "")).lower(): str(h.get("value", ""))
        for h in mail.get("headers") or []
        if isinstance(h, dict)
    }
    common = mail.get("commonHeaders") or {}
    role, token = verp.addresses().role_of(str(mail.get("source", "")))
    unsubscribe = ""
    if "list-unsubscribe" in headers:
        found = UNSUBSCRIBE_IN_URL.search(headers["list-unsubscribe"])
        unsubscribe = found.group(1) if found else ""
    return {
        "verp_token": token if role == "bounce" else "",
        "unsubscribe_token": unsubscribe,
        "original_message_id": headers.get("message-id", "")[:300],
        "message_id": str(mail.get("messageId", ""))[:300],
        "sender": str(mail.get("source", ""))[:320],
        "subject": str(common.get("subject", ""))[:500],
    }


def _ses_failure(bounce: dict[str, Any], recipient: dict[str, Any]) -> Failure:
    bounce_type = str(bounce.get("bounceType", ""))
    sub_type = str(bounce.get("bounceSubType", ""))
    status = str(recipient.get("status", ""))
    diagnostic = str(recipient.get("diagnosticCode", ""))
    verdict = judge(status, diagnostic or sub_type)
    cause = verdict.cause
    if bounce_type == "Permanent" and sub_type in (
        "NoEmail",
        "Suppressed",
        "OnAccountSuppressionList",
    ):
        cause = Cause.USER_UNKNOWN if not verdict.hard else cause
    elif sub_type == "MailboxFull":
        cause = Cause.MAILBOX_FULL
    elif sub_type == "MessageTooLarge":
        cause = Cause.TOO_LARGE
    elif sub_type in ("ContentRejected", "AttachmentRejected"):
        cause = Cause.POLICY
    hard = bounce_type == "Permanent" and cause in (
        Cause.USER_UNKNOWN,
        Cause.DOMAIN_UNKNOWN,
        Cause.MOVED,
    )
    return Failure(
        recipient=str(recipient.get("emailAddress", "")).lower(),
        original_recipient="",
        kind=InboundKind.HARD_BOUNCE if hard else InboundKind.SOFT_BOUNCE,
        cause=cause,
        status=verdict.status,
        report_action=str(recipient.get("action", "failed")),
        diagnostic=diagnostic or f"{bounce_type}/{sub_type}",
    )


# --- Mailgun -------------------------------------------------------------------------------


def receive_mailgun(body: bytes, settings: Settings) -> list[Result] | str:
    if not settings.MAILGUN_SIGNING_KEY:
        raise NotConfigured("set NEWSLETTER_MAILGUN_SIGNING_KEY to receive Mailgun events")
    data = _json(body)
    signature = data.get("signature")
    if not isinstance(signature, dict) or not _mailgun_signed(
        signature, settings.MAILGUN_SIGNING_KEY
    ):
        raise Refused("the Mailgun signature does not match")
    event = data.get("event-data")
    if not isinstance(event, dict) or not event.get("id"):
        raise Malformed("no event-data with an id")
    incoming = act.Incoming(f"mailgun:{event['id']}"[:100], "mailgun", _evidence(body))
    return process_classified(from_mailgun(event), incoming, settings)


def _mailgun_signed(signature: dict[str, Any], key: str) -> bool:
    timestamp, token = str(signature.get("timestamp", "")), str(signature.get("token", ""))
    given = str(signature.get("signature", ""))
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return bool(timestamp and token) and hmac.compare_digest(expected.encode(), given.encode())


def from_mailgun(event: dict[str, Any]) -> Classification:
    kind = str(event.get("event", ""))
    message = event.get("message") or {}
    headers = message.get("headers") or {} if isinstance(message, dict) else {}
    envelope = event.get("envelope") or {}
    role, token = verp.addresses().role_of(str(envelope.get("sender", "")))
    base: dict[str, Any] = {
        "verp_token": token if role == "bounce" else "",
        "original_message_id": f"<{str(headers.get('message-id', '')).strip('<>')}>"
        if headers.get("message-id")
        else "",
        "message_id": str(event.get("id", ""))[:300],
        "sender": str(headers.get("from", ""))[:320],
        "subject": str(headers.get("subject", ""))[:500],
    }
    recipient = str(event.get("recipient", "")).lower()
    if kind == "complained":
        return Classification(
            InboundKind.COMPLAINT,
            "Mailgun complaint",
            complained_about=recipient,
            feedback_type="abuse",
            **base,
        )
    if kind != "failed":
        return Classification(
            InboundKind.AUTO_REPLY,
            f"Mailgun {kind or 'event'}: nothing to do",
            **base,
        )
    status = event.get("delivery-status") or {}
    text = " ".join(
        str(status.get(name, "")) for name in ("code", "enhanced-code", "message", "description")
    ).strip()
    permanent = event.get("severity") == "permanent"
    verdict = judge(str(status.get("enhanced-code", "")), text)
    hard = permanent and verdict.hard
    failure = Failure(
        recipient=recipient,
        original_recipient="",
        kind=InboundKind.HARD_BOUNCE if hard else InboundKind.SOFT_BOUNCE,
        cause=verdict.cause,
        status=verdict.status,
        report_action="failed" if permanent else "delayed",
        diagnostic=text[:2000] or str(event.get("reason", "")),
    )
    return Classification(
        failure.kind,
        f"Mailgun {event.get('severity')} failure",
        failures=(failure,),
        **base,
    )

"""What a message that came back is: pure, no database, no network.

    classify(raw, addresses, envelope_recipients) -> Classification

In order: messages that cannot be read safely (too large, not an email, truncated MIME, a
mail loop) are UNKNOWN with the reason; mail to the unsubscribe address is a mailto
UNSUBSCRIBE; an RFC 5965 feedback report of type abuse or fraud is a COMPLAINT; an RFC 3464
delivery-status report gives each recipient's status and diagnostic; other bounce formats
(qmail, old Exim, Exchange, Yahoo...) are read by flufl.bounce, GNU Mailman's detectors; an
RFC 3834 auto-reply (out of office) is AUTO_REPLY; anything else is UNKNOWN, for a person.
Hard or soft is decided per recipient by causes.judge().

The classification only extracts tokens (the VERP token of the address the message came to,
an unsubscribe token); checking their signatures and finding the member is the processor's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import errors
from email.message import Message
from email.utils import getaddresses, parseaddr
from typing import Any

from newsletter.inbound import report
from newsletter.inbound.causes import Cause, Verdict, judge
from newsletter.inbound.verp import Addresses
from newsletter.models import InboundKind

MAX_RECEIVED = 30  # more hops than any real path: a loop
SEARCHED_BYTES = 300_000

BOUNCE_SENDERS = re.compile(
    r"^(mailer-?daemon|postmaster|mail-?daemon|mail\.?delivery|maildelivery|bounce[sd]?|"
    r"mdaemon|nobody|mail_?admin|mailer|smtp|mta|exim|qmail-send|"
    r"microsoftexchange[0-9a-f]*|no-?reply-?(bounce|dsn))\b",
    re.IGNORECASE,
)
BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (status|failure|failed|has failed|problem|report|"
    r"notification)|returned mail|mail delivery fail|failure notice|could not be delivered|"
    r"non[- ]?deliver|nondeliverable|delivery error|\bbounce|warning: (could not|message)|"
    r"delayed mail|message not delivered|not delivered|unzustellbar|non remis|no se puede|"
    r"mail system error|unable to deliver|delivery failure|returned to sender|"
    r"permanent error|rejected:|mail failure|failed delivery|message you sent",
    re.IGNORECASE,
)
AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(\[?auto(matic|matische)?[ -]?(reply|response|respond|antwort|answer|"
    r"r[ée]ponse|risposta)\]?|out of (the )?office|ooo\b|away from|on (annual )?leave|"
    r"on holiday|on vacation|vacation|abwesen|absence|abwesenheit|r[ée]ponse automatique|"
    r"respuesta autom|risposta automatica|automatisch antwoord|autosvar|"
    r"i am (currently )?(out|away)|i'?m (currently )?(out|away)|"
    r"thank you for your (e-?mail|message))",
    re.IGNORECASE,
)
AUTO_REPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-autoreply-from")
UNSUBSCRIBE_IN_SUBJECT = re.compile(r"unsubscribe-([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")
UNSUBSCRIBE_IN_URL = re.compile(r"/unsubscribe/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")
MESSAGE_ID = re.compile(r"(?im)^message-id:\s*(<[^>\s]+>)")
ADDRESS = re.compile(r"[A-Za-z0-9._%+=/'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
ADDRESSED_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "to", "cc")
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "opt-out"})
DONE_ACTIONS = ("delivered", "relayed", "expanded")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """One recipient a bounce report names."""

    recipient: str  # the address that failed ("" if the report does not say)
    original_recipient: str  # the address we sent to, when the report gives it
    kind: InboundKind  # HARD_BOUNCE or SOFT_BOUNCE
    cause: Cause
    status: str
    report_action: str  # failed, delayed
    diagnostic: str


@dataclass(frozen=True)
class Classification:
    kind: InboundKind
    reason: str  # why it was filed so (for UNKNOWN, what was wrong)
    failures: tuple[Failure, ...] = ()
    verp_token: str = ""  # the token of the VERP address the message came back to
    verp_seen: bool = False  # a VERP address of ours was found (valid or not)
    unsubscribe_token: str = ""  # a link token naming member and send (mailto, complaint)
    original_message_id: str = ""  # the Message-ID of our email it answers
    complained_about: str = ""  # a complaint's recipient address, when not redacted
    feedback_type: str = ""
    message_id: str = ""  # this message's own
    sender: str = ""
    subject: str = ""
    addressed_to: str = ""  # "bounce", "unsubscribe" or "" (some other address)
    extra: dict[str, str] = field(default_factory=dict)


def unknown(reason: str, **values: Any) -> Classification:
    return Classification(InboundKind.UNKNOWN, reason, **values)


def classify(
    raw: bytes,
    addresses: Addresses,
    envelope_recipients: Sequence[str] = (),
    max_bytes: int = 10_000_000,
) -> Classification:
    """What `raw` is. Never raises for any input: the worst is UNKNOWN with the reason."""
    if len(raw) > max_bytes:
        mb = len(raw) / 1_000_000
        return unknown(f"too large to read ({mb:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB)")
    if not raw.strip():
        return unknown("empty message")
    try:
        message = report.parse(raw)
        return _classify(message, raw, addresses, envelope_recipients)
    except (RecursionError, MemoryError):
        return unknown("nested too deeply to read")
    except Exception as exc:  # a parser or detector bug must not stop the receiver
        log.exception("could not classify a message")
        return unknown(f"could not be read ({type(exc).__name__}: {exc})"[:500])


def _classify(
    message: Message, raw: bytes, addresses: Addresses, envelope_recipients: Sequence[str]
) -> Classification:
    basics: dict[str, Any] = {
        "message_id": report.header(message, "Message-ID")[:300],
        "sender": report.header(message, "From")[:320],
        "subject": report.header(message, "Subject")[:500],
    }
    problem = _unreadable(message)
    if problem:
        return unknown(problem, **basics)
    role, token = _addressed(message, addresses, envelope_recipients)
    found_token, seen = _verp_token(raw, addresses, token)
    base: dict[str, Any] = {**basics, "addressed_to": role, "verp_token": found_token}
    if role == "unsubscribe" and report.delivery_status(message) is None:
        return _unsubscribe(message, token, base)
    loop = _loop(message, addresses)
    if loop:
        return unknown(loop, **base)
    feedback = report.feedback_report(message)
    if feedback is not None:
        return _complaint(message, feedback, base, seen)
    dsn = report.delivery_status(message)
    if dsn is not None:
        classified = _from_dsn(message, dsn, base, seen)
        if classified is not None:
            return classified
    bouncy = _looks_like_bounce(message)
    if not bouncy and _is_auto_reply(message):
        return Classification(InboundKind.AUTO_REPLY, _auto_reply_reason(message), **base)
    classified = _from_detectors(message, addresses, base, seen, bouncy)
    if classified is not None:
        return classified
    if _is_auto_reply(message):
        return Classification(InboundKind.AUTO_REPLY, _auto_reply_reason(message), **base)
    if bouncy:
        return unknown("looks like a bounce, but names no recipient we could find", **base)
    return unknown(
        "not a bounce, complaint, auto-reply or unsubscribe: a person's message?", **base
    )


# --- messages that cannot be trusted -------------------------------------------------------


def _unreadable(message: Message) -> str:
    no_headers = not message.keys() or any(
        isinstance(d, errors.MissingHeaderBodySeparatorDefect) for d in message.defects
    )
    if no_headers and not (message.get("From") or message.get("Subject") or message.get("Date")):
        return "not an email message (no header could be read)"
    truncated = (errors.CloseBoundaryNotFoundDefect, errors.StartBoundaryNotFoundDefect)
    if message.is_multipart() and any(isinstance(d, truncated) for d in message.defects):
        # MTAs that shorten the returned message may drop the last boundary; the report is
        # still whole when a part follows its status fields.
        kinds = [report.content_type(p) for p in report.children(message)]
        status = [i for i, k in enumerate(kinds) if k in report.REPORT_PARTS]
        if not status or status[-1] == len(kinds) - 1:
            return "truncated or malformed MIME (a multipart without its closing boundary)"
    declared_multipart = report.content_type(message).startswith("multipart/")
    if declared_multipart and (not message.is_multipart() or not message.get_payload()):
        return "truncated or malformed MIME (a multipart with no parts)"
    return ""


def _loop(message: Message, addresses: Addresses) -> str:
    if len(report.all_headers(message, "Received")) > MAX_RECEIVED:
        return f"mail loop: more than {MAX_RECEIVED} Received headers"
    if not report.is_report(message):
        return ""  # a report forwarded inside a message is not a loop
    returned = report.direct_returned(message)
    if returned is None:
        return ""
    kind = report.header(returned, "Content-Type").lower()
    sender = parseaddr(report.header(returned, "From"))[1].lower()
    to = parseaddr(report.header(returned, "To"))[1].lower()
    if report.is_report(returned) or (
        "report" in kind and ("delivery-status" in kind or "feedback-report" in kind)
    ):
        return "mail loop: a report about a report (a bounce of a bounce)"
    if BOUNCE_SENDERS.match(sender.partition("@")[0]) and addresses.role_of(to)[0]:
        return "mail loop: a report about a message sent to our own return address"
    return ""


# --- where it came to ----------------------------------------------------------------------


def _addressed(
    message: Message, addresses: Addresses, envelope_recipients: Sequence[str]
) -> tuple[str, str]:
    """("bounce" | "unsubscribe" | "", the address's +detail) of the first address of ours
    the message came to: the envelope first, then the headers MTAs add or keep."""
    candidates = list(envelope_recipients)
    for name in ADDRESSED_HEADERS:
        for value in report.all_headers(message, name):
            candidates.extend(address for _, address in getaddresses([value]))
    for address in candidates:
        role, detail = addresses.role_of(address)
        if role:
            return role, detail
    return "", ""


def _verp_token(raw: bytes, addresses: Addresses, from_address: str) -> tuple[str, bool]:
    """The VERP token: from the address it came to, else from a VERP address of ours found
    in the report (the returned message's Return-Path). (token, whether one was seen)."""
    if from_address:
        return from_address, True
    pattern = re.compile(
        re.escape(addresses.bounce_localpart.encode())
        + rb"\+([0-9A-Za-z-]{1,60})@"
        + re.escape(addresses.domain.encode()),
        re.IGNORECASE,
    )
    match = pattern.search(raw[:SEARCHED_BYTES])
    if match is None:
        return "", False
    return match.group(1).decode("ascii").lower(), True


# --- mailto unsubscribe --------------------------------------------------------------------


def _unsubscribe(message: Message, detail: str, base: dict[str, Any]) -> Classification:
    subject = report.header(message, "Subject")
    match = UNSUBSCRIBE_IN_SUBJECT.search(subject) or UNSUBSCRIBE_IN_SUBJECT.search(
        "unsubscribe-" + detail
    )
    if match is None:
        return unknown("an email to the unsubscribe address without the email's token", **base)
    return Classification(
        InboundKind.UNSUBSCRIBE,
        "a mailto unsubscribe (List-Unsubscribe)",
        unsubscribe_token=match.group(1),
        **base,
    )


# --- complaints ----------------------------------------------------------------------------


def _complaint(
    message: Message, feedback: report.StatusFields, base: dict[str, Any], seen: bool
) -> Classification:
    kind = feedback.get("feedback-type").lower().split()[0] if feedback.get("feedback-type") else ""
    returned = report.original(message)
    text = _text_of(returned) if returned is not None else report.full_text(message)
    token = UNSUBSCRIBE_IN_URL.search(text) or UNSUBSCRIBE_IN_SUBJECT.search(text)
    about = feedback.get("original-rcpt-to") or (
        report.header(returned, "To") if returned is not None else ""
    )
    values: dict[str, Any] = {
        **base,
        "unsubscribe_token": token.group(1) if token else "",
        "original_message_id": report.header(returned, "Message-ID") if returned else "",
        "complained_about": parseaddr(about)[1].lower(),
        "feedback_type": kind,
    }
    if kind not in COMPLAINT_TYPES:
        return unknown(f"a feedback report of type {kind or 'none'!r}, not a complaint", **values)
    agent = feedback.get("user-agent") or report.header(message, "From")
    return Classification(
        InboundKind.COMPLAINT,
        f"ARF {kind} report from {agent}"[:300],
        verp_seen=seen,
        **values,
    )


def _text_of(returned: Message) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in returned.items())
    return headers + "\n" + report.full_text(returned, 50_000)


# --- bounce reports ------------------------------------------------------------------------


def _from_dsn(
    message: Message,
    dsn: tuple[report.StatusFields, list[report.StatusFields]],
    base: dict[str, Any],
    seen: bool,
) -> Classification | None:
    _, blocks = dsn
    if not blocks:
        return None
    context = report.readable_text(message)
    failures = []
    for block in blocks:
        action = (block.get("action").lower().split() or [""])[0]
        status = block.get("status").split()[0] if block.get("status") else ""
        if action.startswith(DONE_ACTIONS):
            continue
        if not action:
            action = "delayed" if status.startswith("4") else "failed"
        elif action.startswith(("fail", "error")):
            action = "failed"
        diagnostic = _diagnostic(block)
        verdict = judge(status, diagnostic, action, context)
        recipient = block.address("original-recipient") or block.address("final-recipient")
        failures.append(_failure(recipient, block, verdict, action, diagnostic))
    if not failures:
        return unknown("a delivery report that says the message was delivered or relayed", **base)
    return _bounce(message, failures, base, seen, "RFC 3464 delivery status report")


def _diagnostic(block: report.StatusFields) -> str:
    for name in ("diagnostic-code", "x-postfix-diagnostic", "x-supplementary-info"):
        value = block.get(name)
        if value:
            kind, semicolon, rest = value.partition(";")
            return (rest if semicolon and len(kind) < 20 else value).strip()[:2000]
    return ""


def _failure(
    recipient: str,
    block: report.StatusFields | None,
    verdict: Verdict,
    action: str,
    diagnostic: str,
) -> Failure:
    hard = verdict.hard and action == "failed"
    return Failure(
        recipient=recipient,
        original_recipient=block.address("original-recipient") if block else "",
        kind=InboundKind.HARD_BOUNCE if hard else InboundKind.SOFT_BOUNCE,
        cause=verdict.cause,
        status=verdict.status,
        report_action=action,
        diagnostic=diagnostic,
    )


def _bounce(
    message: Message, failures: list[Failure], base: dict[str, Any], seen: bool, how: str
) -> Classification:
    returned = report.original(message)
    original_id = report.header(returned, "Message-ID") if returned is not None else ""
    if not original_id:
        match = MESSAGE_ID.search(report.full_text(message))
        original_id = match.group(1) if match and match.group(1) != base["message_id"] else ""
    token = UNSUBSCRIBE_IN_URL.search(_text_of(returned)) if returned is not None else None
    first = failures[0]
    return Classification(
        first.kind,
        f"{how}: {first.cause.value}",
        failures=tuple(failures),
        verp_seen=seen,
        original_message_id=original_id[:300],
        unsubscribe_token=token.group(1) if token else "",
        **base,
    )


def _looks_like_bounce(message: Message) -> bool:
    sender = report.header(message, "From")
    name, address = parseaddr(sender)
    local = address.partition("@")[0]
    if BOUNCE_SENDERS.match(local) or "mail delivery" in name.lower():
        return True
    return bool(BOUNCE_SUBJECT.search(report.header(message, "Subject")))


def _from_detectors(
    message: Message, addresses: Addresses, base: dict[str, Any], seen: bool, bouncy: bool
) -> Classification | None:
    """Non-standard bounces, read by flufl.bounce's detectors."""
    from flufl.bounce import all_failures

    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a heuristic detector tripping over odd input
        log.debug("flufl.bounce failed on a message", exc_info=True)
        temporary, permanent = frozenset(), frozenset()
    text = report.full_text(message)
    context = report.readable_text(message)
    found: dict[str, str] = {}
    for detected in sorted(permanent):
        found.setdefault(_decoded(detected), "failed")
    for detected in sorted(temporary):
        found.setdefault(_decoded(detected), "delayed")
    found = {a: act for a, act in found.items() if a and not addresses.role_of(a)[0]}
    if not found and not bouncy:
        return None
    if not found:
        found = _addresses_in(context, addresses)
    if not found and not base["verp_token"]:
        return None
    failures = []
    pairs: list[tuple[str, str]] = list(found.items()) or [("", "failed")]
    for address, action in pairs:
        diagnostic = _around(text, address) if address else context[:1500]
        verdict = judge("", diagnostic, action, context)
        failures.append(_failure(address, None, verdict, action, diagnostic.strip()[:2000]))
    if len(failures) > 1 and not base["verp_token"]:
        failures.sort(key=lambda f: f.kind != InboundKind.HARD_BOUNCE)
    return _bounce(message, failures, base, seen, "bounce")


def _decoded(address: bytes | str) -> str:
    text = address.decode("ascii", "replace") if isinstance(address, bytes) else address
    return text.strip().strip("<>").lower()


def _addresses_in(text: str, addresses: Addresses) -> dict[str, str]:
    """The one address a free-text bounce names (not ours, not a mail system's)."""
    seen = {
        a.lower().strip(".")
        for a in ADDRESS.findall(text)
        if not addresses.role_of(a)[0] and not BOUNCE_SENDERS.match(a.partition("@")[0])
    }
    return {seen.pop(): "failed"} if len(seen) == 1 else {}


def _around(text: str, address: str) -> str:
    """The words following the first mention of the address: where its error is."""
    at = text.lower().find(address.lower())
    if at < 0:
        return text[:1500]
    return text[max(0, at - 200) : at + 800]


# --- auto-replies --------------------------------------------------------------------------


def _is_auto_reply(message: Message) -> bool:
    submitted = report.header(message, "Auto-Submitted").lower()
    if submitted and not submitted.startswith("no"):
        return True
    if any(message.get(name) is not None for name in AUTO_REPLY_HEADERS):
        return True
    precedence = report.header(message, "Precedence").lower()
    if precedence in ("auto_reply", "auto-reply"):
        return True
    if report.header(message, "X-Precedence").lower() in ("auto_reply", "auto-reply"):
        return True
    return bool(AUTO_REPLY_SUBJECT.search(report.header(message, "Subject")))


def _auto_reply_reason(message: Message) -> str:
    submitted = report.header(message, "Auto-Submitted")
    if submitted:
        return f"an automatic reply (Auto-Submitted: {submitted})"[:300]
    return "an automatic reply (out of office)"

"""The SMTP backend: one persistent smtplib connection per open(), one transaction per message."""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Sequence
from email.utils import parseaddr
from functools import cache
from typing import TYPE_CHECKING

from newsletter.config import Settings
from newsletter.delivery.backends.base import BackendUnavailable, Outcome, SendResult

if TYPE_CHECKING:
    from newsletter.rendering import OutgoingMessage

log = logging.getLogger(__name__)

HARD_BOUNCE_CODES = frozenset({550, 551, 553})
# 530 "authentication required" is about our configuration, not the recipient: retry later.
AUTH_REQUIRED = 530
# A server that drops every transaction should not get a new connection per message: after
# this many reconnections in a row with no reply to a transaction, the rest are deferred. A
# reply (any reply) refills it, so a flaky server that drops now and then is still tried.
RECONNECTS_IN_A_ROW = 3
_PLAIN_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:@\"]+@[^\s<>()\[\]\\,;:@\"]+")
_ENHANCED_STATUS = re.compile(r"\s*[245]\.(\d{1,3})\.\d{1,3}\b")


def classify(code: int, text: str) -> SendResult:
    """What an SMTP reply means for the message it answered."""
    detail = f"{code} {text}".strip()
    if 200 <= code < 300:
        return SendResult(Outcome.SENT, code, detail)
    if 400 <= code < 500 or code == AUTH_REQUIRED:
        return SendResult(Outcome.DEFERRED, code, detail)
    if 500 <= code < 600:
        hard = code in HARD_BOUNCE_CODES and _about_the_address(text)
        return SendResult(Outcome.FAILED, code, detail, hard_bounce=hard)
    # Not a reply SMTP allows here: the message was not accepted, so try again later.
    return SendResult(Outcome.DEFERRED, code, detail)


def _about_the_address(text: str) -> bool:
    # "550 5.7.1 looks like spam" refuses the message, not the mailbox; an enhanced status
    # code of class X.1.X (addressing) or none at all means the address itself is bad.
    match = _ENHANCED_STATUS.match(text)
    return match is None or match.group(1) == "1"


@cache
def _local_hostname() -> str:
    # getfqdn() can wait seconds on DNS; once per process is enough.
    return socket.getfqdn()


class SmtpConnection:
    """One SMTP session, reopened when the server drops it mid-batch."""

    def __init__(self, connect: Callable[[], smtplib.SMTP], sender: str, where: str) -> None:
        self._connect = connect
        self._sender = sender
        self._where = where
        self._client: smtplib.SMTP | None = connect()
        self._reconnects_left = RECONNECTS_IN_A_ROW
        self._gave_up = False

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        results = []
        for message in messages:
            if self._client is None and self._reconnects_left > 0:
                self._reconnects_left -= 1
                self._client = self._reconnect()
                if self._client is None:
                    self._reconnects_left = 0  # the server is gone: defer the rest at once
            if self._client is None:
                results.append(self._untried())
            else:
                results.append(self._transaction(self._client, message))
        return results

    def _untried(self) -> SendResult:
        if not self._gave_up:
            self._gave_up = True
            # Each message left costs an attempt without reaching the server: say why.
            log.warning(
                "deferring the rest of this batch untried: the connection to %s was lost, "
                "and reconnecting got no transaction answered",
                self._where,
            )
        detail = f"not sent: the connection to {self._where} was lost"
        return SendResult(Outcome.DEFERRED, detail=detail)

    def close(self) -> None:
        if self._client is None:
            return
        try:
            self._client.quit()
        except (smtplib.SMTPException, OSError):
            pass  # leaving anyway
        finally:
            self._client.close()
            self._client = None

    def _reconnect(self) -> smtplib.SMTP | None:
        try:
            return self._connect()
        except BackendUnavailable as exc:
            log.warning("could not reconnect: %s", exc)
            return None

    def _transaction(self, client: smtplib.SMTP, message: OutgoingMessage) -> SendResult:
        refusal = _cannot_carry(client, message)
        if refusal is not None:
            return refusal
        text: bytes | str
        try:
            code, text = _hand_over(client, message.sender or self._sender, message)
        except smtplib.SMTPResponseException as exc:  # DATA itself refused
            code, text = exc.smtp_code, exc.smtp_error
        except (smtplib.SMTPException, OSError) as exc:
            # Cut before the final reply: the server may not have it; never claim it was sent.
            self._drop()
            detail = f"connection to {self._where} lost during the transaction: {exc!r}"
            return SendResult(Outcome.DEFERRED, detail=detail)
        self._reconnects_left = RECONNECTS_IN_A_ROW  # the server answered: it is there
        result = classify(code, _text(text))
        if result.outcome is not Outcome.SENT:
            self._reset(client)
        return result

    def _reset(self, client: smtplib.SMTP) -> None:
        # RSET clears the failed transaction so the next message starts clean.
        try:
            code, _ = client.rset()
        except (smtplib.SMTPException, OSError):
            code = 0
        if code != 250:
            self._drop()

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _hand_over(client: smtplib.SMTP, sender: str, message: OutgoingMessage) -> tuple[int, bytes]:
    """Run MAIL, RCPT and DATA; the first reply that is not a success, or DATA's final reply."""
    options = []
    if not message.data.isascii() and client.has_extn("8bitmime"):
        options.append("BODY=8BITMIME")
    if not message.to.isascii():
        options.append("SMTPUTF8")
    if client.has_extn("pipelining"):
        return _pipelined(client, sender, message, options)
    code, text = client.mail(sender, options)
    if code != 250:
        return code, text
    code, text = client.rcpt(message.to)
    if code not in (250, 251):
        return code, text
    return client.data(message.data)


def _pipelined(
    client: smtplib.SMTP, sender: str, message: OutgoingMessage, options: list[str]
) -> tuple[int, bytes]:
    """RFC 2920: MAIL, RCPT and DATA in one write, then the content: two round trips a
    message instead of four, which is most of what a local relay costs per message."""
    mail_from = " ".join([f"MAIL FROM:{_path(sender)}", *options])
    rcpt_to = f"RCPT TO:{_path(message.to)}"
    client.send(f"{mail_from}\r\n{rcpt_to}\r\nDATA\r\n".encode())
    mail = client.getreply()
    rcpt = client.getreply()
    if mail[0] != 250 or rcpt[0] not in (250, 251):
        _close_refused_data(client)
        return mail if mail[0] != 250 else rcpt
    data = client.getreply()
    if data[0] != 354:
        return data
    client.send(_dot_stuffed(message.data) + b".\r\n")
    return client.getreply()


def _path(address: str) -> str:
    """<address> for MAIL FROM / RCPT TO. A plain address (all of ours: they are checked on
    the way in) skips smtplib.quoteaddr's full RFC 5322 parse, a tenth of a batch's time."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return smtplib.quoteaddr(address)


def _close_refused_data(client: smtplib.SMTP) -> None:
    """Read DATA's reply after a refused MAIL or RCPT; a server that opened DATA anyway gets an
    empty message, which it refuses for want of a recipient."""
    try:
        code, _ = client.getreply()
        if code == 354:
            client.send(b".\r\n")
            client.getreply()
    except (smtplib.SMTPException, OSError):
        pass  # it refused and hung up (421): the RSET that follows finds the connection gone


def _dot_stuffed(data: bytes) -> bytes:
    """The content as DATA carries it: a line starting with "." gets another, and it ends
    with CRLF (what smtplib's data() does, without its regular expression over 27 KB)."""
    stuffed = data.replace(b"\n.", b"\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed if stuffed.endswith(b"\r\n") else stuffed + b"\r\n"


def _cannot_carry(client: smtplib.SMTP, message: OutgoingMessage) -> SendResult | None:
    if not message.to.isascii() and not client.has_extn("smtputf8"):
        detail = f"{message.to} is not ASCII and the server does not offer SMTPUTF8"
        return SendResult(Outcome.FAILED, detail=detail)
    return None


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


class SmtpBackend:
    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.where = f"{settings.SMTP_HOST}:{settings.SMTP_PORT}"
        self.sender = parseaddr(settings.FROM_ADDRESS)[1]

    def open(self) -> SmtpConnection:
        return SmtpConnection(self._connect, self.sender, self.where)

    def _connect(self) -> smtplib.SMTP:
        try:
            client = self._new_client()
        except OSError as exc:
            raise BackendUnavailable(
                f"cannot connect to the SMTP server at {self.where}: {exc}"
            ) from exc
        try:
            self._start_session(client)
        except BaseException:
            client.close()
            raise
        return client

    def _new_client(self) -> smtplib.SMTP:
        s = self.settings
        if s.SMTP_SSL:
            return smtplib.SMTP_SSL(
                s.SMTP_HOST,
                s.SMTP_PORT,
                local_hostname=_local_hostname(),
                timeout=s.SMTP_TIMEOUT,
                context=ssl.create_default_context(),
            )
        return smtplib.SMTP(
            s.SMTP_HOST, s.SMTP_PORT, local_hostname=_local_hostname(), timeout=s.SMTP_TIMEOUT
        )

    def _start_session(self, client: smtplib.SMTP) -> None:
        s = self.settings
        try:
            client.ehlo_or_helo_if_needed()
            if s.SMTP_STARTTLS:
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if s.SMTP_USERNAME:
                client.login(s.SMTP_USERNAME, s.SMTP_PASSWORD or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise BackendUnavailable(
                f"SMTP server at {self.where}: authentication failed for user "
                f"{s.SMTP_USERNAME!r} ({exc.smtp_code} {_text(exc.smtp_error)})"
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise BackendUnavailable(
                f"SMTP server at {self.where}: could not start the session: {exc}"
            ) from exc

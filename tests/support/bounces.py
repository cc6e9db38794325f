"""Reports about a message the service really sent, as the mail systems out there write them:
a Postfix DSN, an ARF complaint, an out-of-office reply, a mailto unsubscribe.

Each takes what the test SMTP server received (envelope and bytes) and answers it the way a
receiving system would: to the envelope sender (the VERP return path), quoting the message.
"""

from __future__ import annotations

import email
import itertools
import re
from datetime import UTC, datetime
from email import policy
from email.utils import format_datetime, parseaddr

from tests.support.smtp_server import Received

_numbers = itertools.count(1)
USER_UNKNOWN = (
    "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table"
)


def _headers(received: Received) -> str:
    head = received.data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    return head.replace("\r\n", "\n")


def _now() -> str:
    return format_datetime(datetime.now(UTC))


def postfix_dsn(received: Received, diagnostic: str = USER_UNKNOWN) -> bytes:
    """Postfix's bounce for the message's one recipient."""
    rcpt = received.rcpt_tos[0]
    number = next(_numbers)
    boundary = f"4F1C22A0B{number}.1796018409/mx.example.net"
    text = diagnostic.format(rcpt=rcpt)
    return f"""\
Return-Path: <>
Delivered-To: {received.mail_from}
Date: {_now()}
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {received.mail_from}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="{boundary}"
Message-Id: <20261130070009.4F1C22A0B{number}@mx.example.net>

This is a MIME-encapsulated message.

--{boundary}
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<{rcpt}>: host mail.example.com[192.0.2.25] said: {text} (in reply to RCPT TO
    command)

--{boundary}
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Sender: rfc822; {received.mail_from}

Final-Recipient: rfc822; {rcpt}
Original-Recipient: rfc822;{rcpt}
Action: failed
Status: {_status(text)}
Remote-MTA: dns; mail.example.com
Diagnostic-Code: smtp; {text}

--{boundary}
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

{_headers(received)}

--{boundary}--
""".replace("\n", "\r\n").encode()


def _status(text: str) -> str:
    match = re.search(r"\b([245]\.\d+\.\d+)\b", text)
    return match.group(1) if match else "5.0.0"


def arf_complaint(received: Received) -> bytes:
    """A mailbox provider's abuse report (RFC 5965) quoting the whole message, as Yahoo's do."""
    rcpt = received.rcpt_tos[0]
    number = next(_numbers)
    original = received.data.decode("utf-8", "replace").replace("\r\n", "\n")
    return f"""\
From: Mail AntiSpam Feedback <feedback@arf.mail.example.net>
To: {received.mail_from}
Subject: FW: complaint
Date: {_now()}
Message-ID: <arf.{number}.1796026800@arf.mail.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="ARF{number}"

--ARF{number}
Content-Type: text/plain; charset=us-ascii

This is an email abuse report for an email message received on {_now()}.

--ARF{number}
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: ExampleMail-Feedback/2.0
Version: 1
Original-Mail-From: <{received.mail_from}>
Original-Rcpt-To: <{rcpt}>
Reported-Domain: example.org

--ARF{number}
Content-Type: message/rfc822

Return-Path: <{received.mail_from}>
{original}
--ARF{number}--
""".replace("\n", "\r\n").encode()


def out_of_office(received: Received) -> bytes:
    """An Exchange-style automatic reply, sent (RFC 3834) to the return path."""
    rcpt = received.rcpt_tos[0]
    sent = email.message_from_bytes(received.data, policy=policy.default)
    return f"""\
From: {rcpt}
To: {received.mail_from}
Subject: Automatic reply: {sent["Subject"]}
Date: {_now()}
Message-ID: <ooo.{next(_numbers)}@mail.example.com>
In-Reply-To: {sent["Message-ID"]}
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
Content-Type: text/plain; charset=utf-8

I am out of the office until Monday with no access to email.
""".replace("\n", "\r\n").encode()


def mailto_unsubscribe(received: Received) -> tuple[str, bytes]:
    """(address, message) of the unsubscribe email a mail client sends from the message's
    List-Unsubscribe mailto: URI."""
    sent = email.message_from_bytes(received.data, policy=policy.default)
    mailto = re.search(r"<mailto:([^?>]+)\?subject=([^>]+)>", str(sent["List-Unsubscribe"]))
    assert mailto is not None, sent["List-Unsubscribe"]
    address, subject = mailto.groups()
    sender = parseaddr(received.rcpt_tos[0])[1]
    message = f"""\
From: {sender}
To: {address}
Subject: {subject}
Date: {_now()}
Message-ID: <unsubscribe.{next(_numbers)}@mail.example.com>
Content-Type: text/plain; charset=utf-8

This message was automatically generated by a mail client.
""".replace("\n", "\r\n").encode()
    return address, message

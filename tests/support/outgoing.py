"""Messages for backend tests, built the way real mail must be: CRLF line endings."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from newsletter.rendering import OutgoingMessage

_numbers = itertools.count(1)


def outgoing(to: str, subject: str = "Hello", body: str = "Hello there.\n") -> OutgoingMessage:
    message = EmailMessage(policy=policy.SMTP)
    message_id = make_msgid(f"test{next(_numbers)}", domain="localhost")
    message["From"] = "School Leaders Network <news@localhost>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id
    message.set_content(body)
    return OutgoingMessage(to, message_id, message.as_bytes(policy=policy.SMTP))

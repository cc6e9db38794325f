"""The slow, obviously correct way to build one member's message, kept as a yardstick.

Renders the templates with the member's own values, inlines the CSS and builds the message
with the stdlib email object model, all per member. The benchmark times it against
PreparedEmail.personalise, and the tests check that both give the same message. Never used
to send: it costs tens of milliseconds a member.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from newsletter.config import get_settings
from newsletter.rendering.build import TEST_MARKER, EmailSpec, list_id, render
from newsletter.rendering.formatting import clean
from newsletter.rendering.headers import parse_sender
from newsletter.rendering.personal import FIELDS, personal_values
from newsletter.rendering.views import Recipient


def reference_message(spec: EmailSpec, recipient: Recipient, *, test: bool = False) -> bytes:
    settings = get_settings()
    sender = parse_sender(settings.FROM_ADDRESS)
    personal = personal_values(recipient, spec.send_id, set(FIELDS))
    rendered = render(spec, personal)
    message = EmailMessage()
    message["From"] = settings.FROM_ADDRESS
    if settings.REPLY_TO:
        message["Reply-To"] = settings.REPLY_TO
    message["To"] = Address(display_name=clean(recipient.name), addr_spec=recipient.email)
    message["Subject"] = (TEST_MARKER if test else "") + rendered.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=sender.domain)
    if spec.auto_submitted:
        message["Auto-Submitted"] = "auto-generated"
    if spec.bulk:
        token = personal.unsubscribe_url.rpartition("/")[2]
        mailto = f"mailto:unsubscribe@{sender.domain}?subject=unsubscribe-{token}"
        message["Precedence"] = "bulk"
        message["List-Id"] = "{} <{}>".format(*list_id(sender, spec.list_topic))
        message["List-Unsubscribe"] = f"<{personal.unsubscribe_url}>, <{mailto}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text, cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    return message.as_bytes(policy=policy.SMTP)

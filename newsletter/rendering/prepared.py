"""A prepared email, and the cheap per-member step that turns it into message bytes.

Everything that does not depend on the member was done when the email was prepared: templates
rendered, CSS inlined, parts encoded, fixed headers folded. personalise() signs the member's
links, encodes their values into the skeleton's holes and writes four header lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.inbound.verp import Addresses
from newsletter.rendering.headers import (
    address_line,
    check_address,
    date_line,
    list_unsubscribe_line,
    new_message_id,
)
from newsletter.rendering.personal import personal_values
from newsletter.rendering.signing import DkimSigner
from newsletter.rendering.skeleton import Skeleton, encode_value
from newsletter.rendering.views import Recipient


@dataclass(frozen=True)
class OutgoingMessage:
    to: str  # the envelope recipient
    message_id: str  # as in the Message-ID header, angle brackets included
    data: bytes  # the whole RFC 5322 message, CRLF line endings, ready for smtplib.sendmail
    sender: str = ""  # the envelope sender (a VERP return path); "" for FROM_ADDRESS's


class PreparedEmail:
    """One rendering of an email for a send and content variant, ready to personalise."""

    def __init__(
        self,
        *,
        kind: str,
        subject: str,
        send_id: int | None,
        fixed_headers: bytes,
        subject_line: bytes,
        test_subject_line: bytes,
        skeleton: Skeleton,
        domain: str,
        bulk: bool,
        signer: DkimSigner | None,
        addresses: Addresses,
        html_bytes: int = 0,
    ) -> None:
        self.kind = kind
        self.subject = subject
        self.send_id = send_id
        self.domain = domain
        self.bulk = bulk
        self.html_bytes = html_bytes  # the HTML part as rendered, placeholders in its holes
        self._fixed_headers = fixed_headers
        self._subject_lines = {False: subject_line, True: test_subject_line}
        self._skeleton = skeleton
        self._holes = skeleton.holes
        self._needed = {hole.field for hole in self._holes}
        if bulk:
            self._needed.add("unsubscribe_url")
        self._signer = signer
        self._addresses = addresses

    def personalise(self, recipient: Recipient, *, test: bool = False) -> OutgoingMessage:
        """This member's message; test=True marks the subject "[TEST] " for a test send.

        Raises RecipientError when the member's address cannot be written in a header.
        """
        address = check_address(recipient.email)
        personal = personal_values(recipient, self.send_id, self._needed)
        values = {
            hole: encode_value(getattr(personal, hole.field), hole.part) for hole in self._holes
        }
        message_id = new_message_id(self.domain)
        lines = [
            self._fixed_headers,
            self._subject_lines[test],
            address_line("To", recipient.name, address),
            date_line(),
            f"Message-ID: {message_id}\r\n".encode("ascii"),
        ]
        if self.bulk:
            token = personal.unsubscribe_url.rpartition("/")[2]
            mailto = f"mailto:{self._addresses.unsubscribe}?subject=unsubscribe-{token}"
            lines.append(list_unsubscribe_line(personal.unsubscribe_url, mailto))
        data = b"".join(lines) + b"\r\n" + self._skeleton.fill(values)
        if self._signer is not None:
            data = self._signer.sign(data)
        sender = self._addresses.return_path(self.send_id, recipient.member_id)
        return OutgoingMessage(to=address, message_id=message_id, data=data, sender=sender)

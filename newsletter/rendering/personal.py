"""The per-member parts of an email: their values, and the placeholders that stand for them.

Templates are rendered once with placeholders in place of each member's values. A placeholder
is lower-case letters, digits and underscores only, so premailer neither percent-encodes it in
an href nor escapes it in text (premailer issues #72, #248, #303), and quoted-printable leaves
it alone.
Each rendering draws a fresh random nonce into its placeholders, so article text cannot contain
one, by accident or on purpose, and be mistaken for a member's value.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from dataclasses import dataclass, fields

from newsletter import links
from newsletter.rendering.formatting import follows_sentence, greeting
from newsletter.rendering.views import Recipient


@dataclass(frozen=True)
class Personal:
    """What templates may show of the member: `{{ personal.manage_url }}` and so on."""

    greeting: str
    email: str
    manage_url: str
    unsubscribe_url: str
    confirm_url: str
    acknowledge_url: str  # an urgent notice's "I've read this" (links.acknowledge_url)
    follows: str  # "You follow Funding in a weekly digest.": why this member got the email


FIELDS = tuple(f.name for f in fields(Personal))


class Placeholders:
    def __init__(self) -> None:
        self.nonce = secrets.token_hex(8)
        self.pattern = re.compile(f"pz{self.nonce}([a-z_]+)zp")
        self.personal = Personal(**{name: self.token(name) for name in FIELDS})

    def token(self, name: str) -> str:
        return f"pz{self.nonce}{name}zp"

    def count(self, text: str) -> Counter[str]:
        return Counter(self.pattern.findall(text))

    def split(self, text: str) -> list[str]:
        """Literal text and field names, alternating: [text, field, text, field, ..., text]."""
        return self.pattern.split(text)


def personal_values(recipient: Recipient, send_id: int | None, needed: set[str]) -> Personal:
    """The member's real values; links are signed only when the email shows them."""
    member, version = recipient.member_id, recipient.token_version
    return Personal(
        greeting=greeting(recipient.name),
        email=recipient.email,
        manage_url=links.manage_url(member, version) if "manage_url" in needed else "",
        unsubscribe_url=(
            links.unsubscribe_url(member, send_id, version)
            if send_id is not None and "unsubscribe_url" in needed
            else ""
        ),
        confirm_url=links.confirm_url(member, version) if "confirm_url" in needed else "",
        acknowledge_url=(
            links.acknowledge_url(member, send_id, version)
            if send_id is not None and "acknowledge_url" in needed
            else ""
        ),
        follows=follows_sentence(recipient.follows) if "follows" in needed else "",
    )

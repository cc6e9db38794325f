"""What an SMTP reply means for the message: sent, try again later, or failed (and why)."""

from __future__ import annotations

import smtplib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.delivery.backends.base import Outcome
from newsletter.delivery.backends.smtp import _path, classify


@pytest.mark.parametrize(
    ("code", "text", "outcome", "hard_bounce"),
    [
        (250, "2.0.0 OK queued as 12", Outcome.SENT, False),
        (251, "User not local; will forward", Outcome.SENT, False),
        (451, "4.3.0 Try again later", Outcome.DEFERRED, False),
        (421, "4.3.2 Service shutting down", Outcome.DEFERRED, False),
        (452, "4.2.2 Mailbox full", Outcome.DEFERRED, False),
        (530, "5.7.0 Authentication required", Outcome.DEFERRED, False),
        (550, "5.1.1 No such user", Outcome.FAILED, True),
        (550, "Mailbox unavailable", Outcome.FAILED, True),
        (551, "5.1.6 User has moved", Outcome.FAILED, True),
        (553, "5.1.3 Bad recipient address syntax", Outcome.FAILED, True),
        (550, "5.7.1 Message rejected as spam", Outcome.FAILED, False),
        (554, "5.7.1 Transaction failed", Outcome.FAILED, False),
        (552, "5.3.4 Message too big", Outcome.FAILED, False),
        (354, "End data with <CR><LF>.<CR><LF>", Outcome.DEFERRED, False),
    ],
)
def test_reply_codes(code: int, text: str, outcome: Outcome, hard_bounce: bool) -> None:
    result = classify(code, text)

    assert (result.outcome, result.hard_bounce) == (outcome, hard_bounce)
    assert result.code == code
    assert result.detail == f"{code} {text}"


@given(st.emails() | st.text(max_size=40))
def test_the_envelope_path_is_what_smtplib_would_write(address: str) -> None:
    assert _path(address) == smtplib.quoteaddr(address)

"""Hard or soft, from the status code and the remote server's words."""

from __future__ import annotations

import pytest

from newsletter.inbound.causes import Cause, judge

CASES = [
    (
        "5.1.1",
        "550 5.1.1 <a@b>: Recipient address rejected: User unknown in virtual mailbox table",
        Cause.USER_UNKNOWN,
    ),
    ("", "550-5.1.1 The email account that you tried to reach does not exist.", Cause.USER_UNKNOWN),
    ("5.0.0", "550 <a@b>... User unknown", Cause.USER_UNKNOWN),
    ("", "554 delivery error: dd This user doesn't have a yahoo.com account", Cause.USER_UNKNOWN),
    ("", "Sorry, no mailbox here by that name. (#5.1.1)", Cause.USER_UNKNOWN),
    (
        "5.1.10",
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        Cause.USER_UNKNOWN,
    ),
    (
        "5.4.1",
        "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)",
        Cause.USER_UNKNOWN,
    ),
    (
        "5.1.2",
        "550 5.1.2 Host unknown (Name server: example.com: host not found)",
        Cause.DOMAIN_UNKNOWN,
    ),
    ("5.1.10", "556 5.1.10 Recipient address has null MX", Cause.DOMAIN_UNKNOWN),
    ("5.1.6", "550 5.1.6 Recipient mailbox has moved", Cause.MOVED),
    ("5.2.2", "552 5.2.2 Mailbox full", Cause.MAILBOX_FULL),
    (
        "4.2.2",
        "452 4.2.2 The email account that you tried to reach is over quota.",
        Cause.MAILBOX_FULL,
    ),
    ("5.2.1", "550 5.2.1 The email account that you tried to reach is disabled.", Cause.DISABLED),
    (
        "5.7.1",
        "550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
        Cause.POLICY,
    ),
    (
        "5.7.26",
        "550 5.7.26 This mail has been blocked because the sender is unauthenticated.",
        Cause.POLICY,
    ),
    ("5.7.1", "550 5.7.1 Message rejected as spam by Content Filtering", Cause.POLICY),
    (
        "5.0.0",
        "554 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. (S3150)",
        Cause.POLICY,
    ),
    ("5.7.1", "550 5.7.1 Relaying denied", Cause.REJECTED),
    ("5.7.1", "554 5.7.1 <a@b>: Recipient address rejected: Access denied", Cause.USER_UNKNOWN),
    ("5.0.0", "550 Unknown user a@b (in reply to end of DATA command)", Cause.REJECTED),
    ("4.0.0", "450 Requested mail action not taken: mailbox unavailable", Cause.TEMPORARY),
    ("", "L'adresse de messagerie référencée ci-dessus n'existe pas.", Cause.USER_UNKNOWN),
    ("", "This person's account is exceeding their quota.", Cause.MAILBOX_FULL),
    (
        "5.1.8",
        "553 5.1.8 <news@example.org>: Sender address rejected: Domain not found",
        Cause.REJECTED,
    ),
    ("4.4.7", "Message expired: retry timeout exceeded", Cause.EXPIRED),
    ("", "retry timeout exceeded", Cause.EXPIRED),
    ("4.7.1", "451 4.7.1 Greylisted, please try again later", Cause.TEMPORARY),
    ("5.3.4", "552 5.3.4 Message size exceeds fixed maximum message size", Cause.TOO_LARGE),
    ("5.0.0", "550 Requested action not taken", Cause.OTHER),
]


@pytest.mark.parametrize(("status", "diagnostic", "cause"), CASES)
def test_the_cause_of_a_failure(status: str, diagnostic: str, cause: Cause) -> None:
    assert judge(status, diagnostic).cause == cause


def test_only_a_gone_address_is_hard() -> None:
    assert judge("5.1.1", "user unknown").hard
    assert not judge("5.2.2", "mailbox full").hard
    assert not judge("5.7.1", "blocked using spamhaus").hard


def test_a_delay_is_never_hard() -> None:
    verdict = judge("4.1.1", "450 4.1.1 user unknown", action="delayed")
    assert verdict.cause == Cause.DELAYED and not verdict.hard


def test_the_status_comes_from_the_words_when_the_field_is_missing() -> None:
    assert judge("", "host said: 550 5.1.1 <x@y>: no such user").status == "5.1.1"

"""Every kind of email, as sent, scored by the real SpamAssassin with network tests off.

Each must score under 0.5; and when a relay without reverse DNS hands it on (its Received
header added), nothing but RDNS_NONE may fire on top: content rules that combine with it, such
as HTML_FONT_TINY_NORDNS, turned an alert into spam before. The rules hit are printed at the
end of the run ("SpamAssassin scores").
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from tests.support.every_email import KINDS
from tests.support.spamassassin import REPORT, Score, Spamd, spamd_server

LIMIT = 0.5


def relayed(message: bytes) -> bytes:
    """The message as a receiving server writes it down after a relay with no rDNS name."""
    received = (
        "Received: from relay.example.net (unknown [81.2.69.142])\r\n"
        "\tby mx.example.org (Postfix) with ESMTP id 4AB12C3D4E\r\n"
        f"\tfor <member@example.org>; {format_datetime(datetime.now(UTC))}\r\n"
    )
    return received.encode("ascii") + message


@pytest.fixture(scope="module")
def spamd() -> Iterator[Spamd]:
    with spamd_server() as server:
        yield server


@pytest.fixture(scope="module")
def scores(every_email: dict[str, bytes], spamd: Spamd) -> dict[str, tuple[Score, Score]]:
    """{kind: (as sent, after a relay without rDNS)}, scored two at a time."""
    messages = [(kind, every_email[kind]) for kind in KINDS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        plain = list(pool.map(lambda item: spamd.score(item[1]), messages))
        via_relay = list(pool.map(lambda item: spamd.score(relayed(item[1])), messages))
    found = {kind: (a, b) for (kind, _), a, b in zip(messages, plain, via_relay, strict=True)}
    for kind, (as_sent, after_relay) in found.items():
        REPORT.append(f"{kind:<24} as sent    {as_sent.describe()}")
        REPORT.append(f"{'':<24} via relay {after_relay.describe()}")
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_scores_under_half_a_point(kind: str, scores: dict[str, tuple[Score, Score]]) -> None:
    as_sent, _ = scores[kind]
    assert as_sent.total < LIMIT, f"{kind}: {as_sent.describe()}"


@pytest.mark.parametrize("kind", KINDS)
def test_a_relay_without_reverse_dns_adds_nothing_but_rdns_none(
    kind: str, scores: dict[str, tuple[Score, Score]]
) -> None:
    as_sent, after_relay = scores[kind]
    added = set(after_relay.rules) - set(as_sent.rules)
    assert added == {"RDNS_NONE"}, f"{kind}: {after_relay.describe()}"
    assert after_relay.total - after_relay.rules["RDNS_NONE"] < LIMIT, after_relay.describe()

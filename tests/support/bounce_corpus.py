"""The test corpus of bounces, complaints and replies (tests/fixtures/bounces/) and the database
it is about: the members its signed tokens name, each sent one funding alert."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.models import Delivery, DeliveryStatus, Send, SendKind, SendStatus, utcnow
from tests.support.delivery_data import add_member, topic_ids

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures" / "bounces"

KEY = "newsletter-test-corpus-key-not-a-secret"

# In this order, so that their ids match the tokens signed into the corpus.
MEMBERS = [
    "ann.archer@example.com",
    "bea.bell@example.net",
    "carl.cooper@school.example.co.uk",
    "dev.dutta@academy.example.org.uk",
    "erin.evans@example.edu",
    "faye.fox@example.info",
    "gus.grant@example.info",
    "hal.hughes@trust.example.sch.uk",
    "ivy.irving@outlook.example",
    "jo.jones@school.example.org.uk",
    "kim.khan@gmail.example",
    "lee.lam@gmail.example",
    "mo.malik@gmail.example",
    "nat.nolan@yahoo.example",
    "olly.owen@yahoo.example",
    "pat.patel@example.org.uk",
    "quinn.quayle@example.com",
    "rosa.reid@yahoo.example",
    "sam.shah@hotmail.example",
    "tom.turner@example.com",
    "uma.usman@example.de",
    "vic.vance@example.com",
    "will.wu@example.com",
    "xena.xu@example.com",
]


@pytest.fixture
def corpus_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The members the corpus is about, each sent send 1 (a funding alert)."""
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", KEY)
    monkeypatch.setenv("NEWSLETTER_FROM_ADDRESS", "School Leaders Network <news@example.org>")
    get_settings.cache_clear()
    with session_scope() as session:
        members = [
            add_member(session, email, {"funding": "immediate", "npq": "weekly"})
            for email in MEMBERS
        ]
        assert [m.id for m in members] == list(range(1, len(MEMBERS) + 1))
        funding = topic_ids(session)["funding"]
        send = Send(
            kind=SendKind.ALERT,
            status=SendStatus.SENT,
            subject="Funding update: pay award confirmed",
            audience={"topic_ids": [funding], "frequencies": ["immediate"], "roles": []},
        )
        session.add(send)
        session.flush()
        assert send.id == 1
        for member in members:
            session.add(
                Delivery(
                    send_id=send.id,
                    member_id=member.id,
                    status=DeliveryStatus.SENT,
                    attempts=1,
                    sent_at=utcnow(),
                )
            )
    return db_url

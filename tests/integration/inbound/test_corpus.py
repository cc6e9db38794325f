"""`newsletter inbound process` over the test corpus (tests/fixtures/bounces/): every message is
classified as expected.json says, acts on the right member, and a replay changes nothing more."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from newsletter import links
from newsletter.cli import app
from newsletter.db import session_scope
from newsletter.models import (
    ConsentEvent,
    Delivery,
    InboundEvent,
    Member,
    MemberStatus,
    Suppression,
    SuppressionReason,
)
from tests.support.bounce_corpus import CORPUS
from tests.support.delivery_data import topic_ids

EXPECTED: dict[str, dict[str, str]] = json.loads((CORPUS / "expected.json").read_text())


def process(*args: str) -> list[dict[str, Any]]:
    files = sorted(str(p) for p in CORPUS.glob("*.eml"))
    result = CliRunner().invoke(app, ["inbound", "process", *files, "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_every_message_of_the_corpus_is_classified_as_expected(corpus_db: str) -> None:
    results = {Path(r["message"]).name: r for r in process()}
    assert set(results) == set(EXPECTED)
    for name, expected in EXPECTED.items():
        got = results[name]
        assert got["kind"] == expected["kind"], (name, got)
        assert got["recipient"] == expected["recipient"], (name, got)
        if "cause" in expected:
            assert got["cause"] == expected["cause"], (name, got)
        if "reason" in expected:
            assert expected["reason"] in got["reason"], (name, got)
    assert results["postfix-verp.eml"]["delivery_id"] == delivery_id(23)
    assert "suppressed" in results["postfix-user-unknown.eml"]["action"]


def delivery_id(member_id: int) -> int:
    with session_scope() as session:
        found = session.scalar(select(Delivery.id).where(Delivery.member_id == member_id))
    assert found is not None
    return found


def test_the_corpus_changes_exactly_whom_it_should(corpus_db: str) -> None:
    process()
    with session_scope() as session:
        reasons = dict(session.execute(select(Suppression.email, Suppression.reason)).all())
        statuses = dict(session.execute(select(Member.email, Member.status)).all())
        hard = {e for e, k in EXPECTED.items() if k["kind"] == "hard_bounce"}
        assert {r for r, why in reasons.items() if why == SuppressionReason.HARD_BOUNCE} == {
            EXPECTED[name]["recipient"] for name in hard
        }
        assert reasons["rosa.reid@yahoo.example"] == SuppressionReason.COMPLAINT
        assert statuses["rosa.reid@yahoo.example"] == MemberStatus.COMPLAINED
        assert statuses["ann.archer@example.com"] == MemberStatus.BOUNCED
        untouched = [
            "bea.bell@example.net",  # one soft bounce
            "lee.lam@gmail.example",  # a spam block: our problem, not hers
            "olly.owen@yahoo.example",  # a delay
            "tom.turner@example.com",  # out of office
            "uma.usman@example.de",
            "xena.xu@example.com",  # forged return path, and a delivery never sent
        ]
        for email in untouched:
            assert email not in reasons, email
            assert statuses[email] == MemberStatus.ACTIVE, email
        assert not _subscriptions(session, "rosa.reid@yahoo.example")
        # The mailto unsubscribe answers the funding alert: funding goes, NPQ stays.
        assert _subscriptions(session, "vic.vance@example.com") == {"npq"}
        assert statuses["vic.vance@example.com"] == MemberStatus.ACTIVE
        sources = set(session.scalars(select(ConsentEvent.source).distinct()))
        assert {"complaint", "mailto", "bounce"} <= {s.value for s in sources}


def _subscriptions(session: Session, email: str) -> set[str]:
    member = session.scalar(select(Member).where(Member.email == email))
    assert member is not None
    slugs = {v: k for k, v in topic_ids(session).items()}
    return {slugs[s.topic_id] for s in member.subscriptions}


def test_replaying_the_corpus_changes_nothing_more(corpus_db: str) -> None:
    process()
    before = _counts()
    again = process()
    assert all(r.get("duplicate") for r in again)
    assert _counts() == before


def _counts() -> tuple[int, int, int, int]:
    with session_scope() as session:
        return (
            session.scalar(select(func.count()).select_from(InboundEvent)) or 0,
            session.scalar(select(func.count()).select_from(Suppression)) or 0,
            session.scalar(select(func.count()).select_from(ConsentEvent)) or 0,
            session.scalar(
                select(func.count()).select_from(Member).where(Member.status == MemberStatus.ACTIVE)
            )
            or 0,
        )


def test_a_20_mb_message_is_filed_as_unknown(corpus_db: str, tmp_path: Path) -> None:
    big = tmp_path / "big.eml"
    body = (CORPUS / "postfix-user-unknown.eml").read_bytes()
    big.write_bytes(body + b"\n" + (b"x" * 76 + b"\n") * (20_000_000 // 77))
    result = CliRunner().invoke(app, ["inbound", "process", str(big), "--json"])
    assert result.exit_code == 0, result.output
    [got] = json.loads(result.stdout)
    assert got["kind"] == "unknown" and "too large" in got["reason"]
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Suppression)) == 0


def test_a_path_that_is_not_there_is_one_line_and_exit_2(corpus_db: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["inbound", "process", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such file or folder" in result.output
    assert "Traceback" not in result.output


def test_the_corpus_tokens_are_signed_with_the_test_key(corpus_db: str) -> None:
    from newsletter.inbound.verp import addresses

    assert links.unsubscribe_token(22, 1, 1) in (CORPUS / "mailto-unsubscribe.eml").read_text()
    assert addresses().return_path(1, 23) in (CORPUS / "postfix-verp.eml").read_text()
    assert addresses().return_path(999, 24) in (CORPUS / "never-sent.eml").read_text()

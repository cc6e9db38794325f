"""The ledger against a real SMTP server: retries, bounces, outages, crashes, racing claimers."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from newsletter.config import get_settings
from newsletter.db import get_engine, session_scope
from newsletter.delivery import jobs, ledger
from newsletter.delivery.batches import run_batch
from newsletter.delivery.progress import describe_send
from newsletter.inline import inline
from newsletter.models import (
    Delivery,
    Member,
    MemberStatus,
    Suppression,
    SuppressionReason,
)
from tests.support.delivery_data import add_member, fan_out_breaking, statuses
from tests.support.servers import free_port
from tests.support.smtp_server import REJECT, SmtpTestServer

FUNDING_SUBSCRIBERS = ["ann@example.com", "bob@example.com", "cat@example.com", "dan@example.com"]


@pytest.fixture
def smtp(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpTestServer]:
    server = SmtpTestServer(
        defer={"bob@example.com": 1, "cat@example.com": 2}, reject={"dan@example.com": REJECT}
    )
    with server:
        use(monkeypatch, server.env())
        yield server


def use(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in {**env, "NEWSLETTER_RETRY_BASE_SECONDS": "0"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def members(session: Session) -> None:
    for address in FUNDING_SUBSCRIBERS:
        add_member(session, address, {"funding": "immediate"})
    add_member(session, "npq@example.com", {"npq": "immediate"})


def sweep_until_settled(rounds: int = 5) -> None:
    with inline():
        for _ in range(rounds):
            if not jobs.sweep(datetime.now(UTC) + timedelta(seconds=1)):
                return


def test_451_arrive_later_550_bounces_and_nothing_is_lost_or_doubled(
    session: Session, smtp: SmtpTestServer
) -> None:
    members(session)
    send_id = fan_out_breaking(session)

    with inline():
        jobs.queue_send(send_id)
    first = statuses(send_id)
    sweep_until_settled()

    assert first == {
        "ann@example.com": "sent",
        "bob@example.com": "deferred",
        "cat@example.com": "deferred",
        "dan@example.com": "failed",
    }
    assert statuses(send_id) == {
        "ann@example.com": "sent",
        "bob@example.com": "sent",
        "cat@example.com": "sent",
        "dan@example.com": "failed",
    }
    assert Counter(smtp.recipients()) == {
        "ann@example.com": 1,
        "bob@example.com": 1,
        "cat@example.com": 1,
    }
    assert smtp.rcpt_attempts("cat@example.com") == 3
    with session_scope() as s:
        dan = s.scalars(select(Member).where(Member.email == "dan@example.com")).one()
        suppression = s.scalars(select(Suppression).where(Suppression.email == dan.email)).one()
        assert dan.status == MemberStatus.BOUNCED
        assert suppression.reason == SuppressionReason.HARD_BOUNCE
        summary = describe_send(s, send_id)
    assert summary is not None and summary.status == "sent"


def test_deferred_gives_up_after_the_configured_attempts(
    session: Session, smtp: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, {"NEWSLETTER_RETRY_MAX_ATTEMPTS": "2"})
    members(session)
    send_id = fan_out_breaking(session)

    with inline():
        jobs.queue_send(send_id)
    sweep_until_settled()

    final = statuses(send_id)
    assert final["bob@example.com"] == "sent"  # one 451, accepted on the second attempt
    assert final["cat@example.com"] == "failed"  # two 451s: both attempts used up
    with session_scope() as s:
        error = s.scalars(
            select(Delivery.last_error)
            .join(Member, Member.id == Delivery.member_id)
            .where(Member.email == "cat@example.com")
        ).one()
    assert "gave up after 2 attempts" in error and "451" in error


def test_unreachable_smtp_defers_everything_until_it_is_back(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    use(
        monkeypatch,
        {
            "NEWSLETTER_EMAIL_BACKEND": "smtp",
            "NEWSLETTER_SMTP_HOST": "127.0.0.1",
            "NEWSLETTER_SMTP_PORT": str(port),
            "NEWSLETTER_SMTP_TIMEOUT": "5",
        },
    )
    members(session)
    send_id = fan_out_breaking(session)

    with inline():
        jobs.queue_send(send_id)
    during = statuses(send_id)
    with session_scope() as s:
        errors = set(s.scalars(select(Delivery.last_error).where(Delivery.send_id == send_id)))

    with SmtpTestServer(port=port) as smtp:
        sweep_until_settled()
        assert sorted(smtp.recipients()) == FUNDING_SUBSCRIBERS

    assert set(during.values()) == {"deferred"}
    assert len(errors) == 1 and f"127.0.0.1:{port}" in errors.pop()
    assert set(statuses(send_id).values()) == {"sent"}


def test_rows_stuck_in_sending_are_sent_again_by_the_sweep(
    session: Session, smtp: SmtpTestServer
) -> None:
    smtp.script.defer, smtp.script.reject = {}, {}
    members(session)
    send_id = fan_out_breaking(session)
    # A worker claimed the batch and died before sending anything.
    with session_scope() as s:
        ids = list(s.scalars(select(Delivery.id).where(Delivery.send_id == send_id)))
        claimed = ledger.claim(s, send_id, ids, datetime.now(UTC) - timedelta(minutes=10))
    assert len(claimed) == 4

    with inline():
        jobs.sweep()  # claimed 10 minutes ago: maybe still sending, left alone
        assert smtp.recipients() == []
        jobs.sweep(datetime.now(UTC) + timedelta(minutes=10))  # past the 15-minute timeout

    assert sorted(smtp.recipients()) == FUNDING_SUBSCRIBERS
    assert set(statuses(send_id).values()) == {"sent"}


def test_pending_rows_whose_message_was_lost_are_queued_again(
    session: Session, smtp: SmtpTestServer
) -> None:
    smtp.script.defer, smtp.script.reject = {}, {}
    members(session)
    fan_out_breaking(session)  # fanned out, but the batch message never reached a worker

    with inline():
        jobs.sweep()
        assert smtp.recipients() == []
        jobs.sweep(datetime.now(UTC) + timedelta(hours=2))

    assert sorted(smtp.recipients()) == FUNDING_SUBSCRIBERS


def test_two_claimers_racing_for_the_same_rows_share_them_without_overlap(
    session: Session,
) -> None:
    for n in range(40):
        add_member(session, f"m{n}@example.com", {"funding": "immediate"})
    send_id = fan_out_breaking(session)
    with session_scope() as s:
        ids = list(s.scalars(select(Delivery.id).where(Delivery.send_id == send_id)))
    results: list[list[ledger.Claimed]] = []
    start = threading.Barrier(2)

    def claimer() -> None:
        start.wait()
        with session_scope() as s:
            results.append(ledger.claim(s, send_id, ids, datetime.now(UTC)))

    threads = [threading.Thread(target=claimer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    claimed = [c.id for batch in results for c in batch]
    assert len(results) == 2
    assert sorted(claimed) == sorted(ids)  # every row once, none twice


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_row_requeued_while_a_late_duplicate_batch_claims_it_is_not_cancelled(
    session: Session, smtp: SmtpTestServer
) -> None:
    """The flaky-SMTP scenario's lost members (issue 17), step by step.

    A batch's broker message is queued twice when it waits longer than
    REQUEUE_PENDING_AFTER_SECONDS (the sweep queues its still-pending rows again). The first
    copy sends; bob's message gets a 451 and his row waits, deferred. The second copy's claim
    finds nothing pending, and in the middle of it the sweep makes bob's row pending again.
    The claim then set aside "the rest of the batch still pending" as no longer wanted, and
    cancelled bob, who is active and subscribed. (PostgreSQL only: each statement there sees
    what was committed when it began; SQLite lets one writer in at a time, so the sweep
    cannot write between the claim's statements.)
    """
    smtp.script.defer, smtp.script.reject = {"bob@example.com": 1}, {}
    members(session)
    send_id = fan_out_breaking(session)
    with session_scope() as s:
        ids = list(s.scalars(select(Delivery.id).where(Delivery.send_id == send_id)))

    run_batch(send_id, ids)  # the batch's first copy
    assert statuses(send_id)["bob@example.com"] == "deferred"

    requeued: list[dict[int, list[int]]] = []
    claims: list[str] = []

    def sweep_during_the_claim(conn, cursor, statement: str, *args) -> None:  # type: ignore[no-untyped-def]
        # Only the claim counts an attempt; it has run, the statement after it has not.
        if "attempts=(delivery.attempts +" in statement and not claims:
            claims.append(statement)
            with session_scope() as other:  # another connection, as the beat's sweep is
                requeued.append(ledger.recover(other, datetime.now(UTC), get_settings()))

    event.listen(get_engine(), "after_cursor_execute", sweep_during_the_claim)
    try:
        late = run_batch(send_id, ids)  # the batch's second copy
    finally:
        event.remove(get_engine(), "after_cursor_execute", sweep_during_the_claim)
    assert requeued == [{send_id: [bob_row()]}]
    assert late.claimed == 0
    assert statuses(send_id)["bob@example.com"] == "pending"  # waiting for the sweep's batch

    run_batch(send_id, requeued[0][send_id])  # the batch the sweep queued
    assert statuses(send_id) == dict.fromkeys(FUNDING_SUBSCRIBERS, "sent")
    assert Counter(smtp.recipients()) == dict.fromkeys(FUNDING_SUBSCRIBERS, 1)


def bob_row() -> int:
    with session_scope() as s:
        return s.scalars(
            select(Delivery.id)
            .join(Member, Member.id == Delivery.member_id)
            .where(Member.email == "bob@example.com")
        ).one()

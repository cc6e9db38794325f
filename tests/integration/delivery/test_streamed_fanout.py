"""A fan-out written, committed and queued a chunk at a time (ADR 0023), on SQLite and
PostgreSQL: the first chunk's emails go out before the rest is written, the send cannot finish
while rows are still to come, a fan-out stopped half way is finished by a second run or by the
recovery sweep with everyone once, and one article still reaches each member once when an
alert and a digest run are written at the same time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from newsletter import dispatch
from newsletter.cli import app
from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.delivery import alerts, digests, jobs, ledger, progress
from newsletter.delivery.backends import memory
from newsletter.delivery.batches import run_batch
from newsletter.inline import inline
from newsletter.models import (
    Article,
    Delivery,
    Frequency,
    Member,
    Priority,
    Send,
    SendKind,
    SendStatus,
    utcnow,
)
from tests.support.delivery_data import add_article, add_member

MONDAY = datetime(2026, 11, 23, 7, tzinfo=UTC)  # the weekly digest is due
MEMBERS = [f"m{i}@example.com" for i in range(5)]
CHUNK = 2


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("NEWSLETTER_FANOUT_CHUNK", str(CHUNK))
    get_settings.cache_clear()
    memory.clear()
    yield
    memory.clear()


class Died(Exception):
    """The process doing the fan-out was killed."""


def dies_after_its_first_batch(task: str, args: list[object]) -> None:
    """Queued work done here, as a worker would; the fan-out dies once the first batch is sent."""
    assert task == "newsletter.deliver_batch"
    send_id, ids = args
    assert isinstance(send_id, int) and isinstance(ids, list)
    run_batch(send_id, ids)
    raise Died


def rows(send_id: int) -> dict[str, list[str]]:
    """{email: [status of each of its rows]} of one send."""
    found: dict[str, list[str]] = {}
    with session_scope() as session:
        for email, status in session.execute(
            select(Member.email, Delivery.status)
            .join(Member, Member.id == Delivery.member_id)
            .where(Delivery.send_id == send_id)
        ):
            found.setdefault(email, []).append(status.value)
    return found


def the_send(kind: SendKind) -> Send:
    with session_scope() as session:
        return session.scalars(select(Send).where(Send.kind == kind)).one()


def received() -> Counter[str]:
    return Counter(message.to for message in memory.outbox)


def shown(send_id: int) -> str:
    result = CliRunner().invoke(app, ["sends", "show", str(send_id)])
    assert result.exit_code == 0, result.stderr
    return result.stdout


def digest_run(*args: str) -> str:
    result = CliRunner().invoke(app, ["digest", "run", "--frequency", "weekly", *args])
    assert result.exit_code == 0, result.stderr
    return " ".join(result.stdout.split())


def assert_stopped_after_the_first_chunk(send: Send) -> None:
    """Its first chunk was sent, the rest never written, and nothing may call it finished."""
    assert rows(send.id) == {address: ["sent"] for address in MEMBERS[:CHUNK]}
    assert send.status == SendStatus.SENDING and send.fanout_progress_at is not None
    with session_scope() as session:
        assert ledger.complete_sends(session, utcnow()) == 0  # what the sweep does
        summary = progress.describe_send(session, send.id)
    assert summary is not None and summary.fanning_out and summary.status == "sending"
    assert not progress.is_settled(summary)  # `--wait` goes on waiting
    assert "still fanning out: 2 recipients written so far" in shown(send.id)


def test_a_digest_run_killed_after_its_first_chunk_is_finished_by_running_it_again(
    session: Session,
) -> None:
    for address in MEMBERS:
        add_member(session, address, {"funding": "weekly"})
    add_article(session, "Funding", ["funding"], published_at=MONDAY - timedelta(days=2))
    session.commit()

    with dispatch.running_here(dies_after_its_first_batch), pytest.raises(Died):
        jobs.digest(Frequency.WEEKLY, MONDAY)
    send = the_send(SendKind.DIGEST)
    assert_stopped_after_the_first_chunk(send)

    # Run again, later that Monday: the same period, so the same idempotency key.
    resumed = digest_run("--as-of", "2026-11-23 10:00", "--inline")
    again = digest_run("--as-of", "2026-11-23 11:00", "--inline")

    assert f"(send {send.id}) had stopped half way: finished it, 3 more members" in resumed
    assert "has already run" in again
    assert rows(send.id) == {address: ["sent"] for address in MEMBERS}
    assert received() == Counter(MEMBERS)
    finished = the_send(SendKind.DIGEST)
    assert finished.status == SendStatus.SENT and finished.fanout_progress_at is None


def test_an_alert_killed_after_its_first_chunk_is_finished_by_the_sweep(session: Session) -> None:
    for address in MEMBERS:
        add_member(session, address, {"funding": "immediate"})
    article = add_article(session, "Pay award", ["funding"], priority=Priority.BREAKING)
    session.commit()

    with dispatch.running_here(dies_after_its_first_batch), pytest.raises(Died):
        jobs.alert(article.id)
    send = the_send(SendKind.ALERT)
    assert_stopped_after_the_first_chunk(send)

    stalled = timedelta(seconds=get_settings().FANOUT_STALLED_SECONDS + 1)
    with inline():
        jobs.sweep(utcnow())  # it may still be writing: left alone
        assert len(rows(send.id)) == CHUNK
        jobs.sweep(utcnow() + stalled)

    assert rows(send.id) == {address: ["sent"] for address in MEMBERS}
    assert received() == Counter(MEMBERS)
    assert the_send(SendKind.ALERT).status == SendStatus.SENT


def test_a_digest_run_killed_half_way_is_finished_by_the_sweep(session: Session) -> None:
    for address in MEMBERS:
        add_member(session, address, {"funding": "daily"})
    add_article(session, "Funding", ["funding"], published_at=MONDAY - timedelta(hours=3))
    session.commit()

    with dispatch.running_here(dies_after_its_first_batch), pytest.raises(Died):
        jobs.digest(Frequency.DAILY, MONDAY)
    with inline():
        jobs.sweep(utcnow() + timedelta(seconds=get_settings().FANOUT_STALLED_SECONDS + 1))

    send = the_send(SendKind.DIGEST)
    assert rows(send.id) == {address: ["sent"] for address in MEMBERS}
    assert received() == Counter(MEMBERS)
    assert send.status == SendStatus.SENT and send.created_at == MONDAY


def test_an_alert_made_between_two_chunks_of_a_digest_run_is_not_repeated_by_it(
    session: Session,
) -> None:
    breaking = weekly_members_and_breaking_news(session)
    other = add_article(session, "Funding", ["funding"], published_at=MONDAY - timedelta(days=2))
    session.commit()

    def alert_after_the_first_chunk(send_id: int, delivery_ids: list[int]) -> None:
        session.commit()
        if delivery_ids and not the_alert():
            with session_scope() as elsewhere:  # a worker fans the alert out meanwhile
                alerts.fan_out_article(elsewhere, breaking.id, now=MONDAY)

    digests.run_digest(
        session, Frequency.WEEKLY, MONDAY, get_settings(), alert_after_the_first_chunk
    )
    session.commit()

    assert carried(breaking.id) == Counter(MEMBERS)  # by the digest to 2, the alert to 3
    assert carried(other.id) == Counter(MEMBERS)


def test_a_digest_run_between_two_chunks_of_an_alert_is_not_repeated_by_it(
    session: Session,
) -> None:
    breaking = weekly_members_and_breaking_news(session)
    session.commit()

    def digest_after_the_first_chunk(send_id: int, delivery_ids: list[int]) -> None:
        session.commit()
        if delivery_ids and not the_digest():
            with session_scope() as elsewhere:  # beat's digest run meanwhile
                digests.run_digest(elsewhere, Frequency.WEEKLY, MONDAY, get_settings())

    alerts.fan_out_article(session, breaking.id, now=MONDAY, committed=digest_after_the_first_chunk)
    session.commit()

    assert carried(breaking.id) == Counter(MEMBERS)  # by the alert to 2, the digest to 3


def weekly_members_and_breaking_news(session: Session) -> Article:
    """The members, with a weekly digest, and a breaking article published before it is due."""
    for address in MEMBERS:
        add_member(session, address, {"funding": "weekly"})
    return add_article(
        session,
        "Pay award",
        ["funding"],
        priority=Priority.BREAKING,
        published_at=MONDAY - timedelta(hours=1),
    )


def the_alert() -> bool:
    with session_scope() as session:
        return session.scalar(select(Send.id).where(Send.kind == SendKind.ALERT)) is not None


def the_digest() -> bool:
    with session_scope() as session:
        return session.scalar(select(Send.id).where(Send.kind == SendKind.DIGEST)) is not None


def carried(article_id: int) -> Counter[str]:
    """How many rows, of alerts and digests, carry the article to each member."""
    found: Counter[str] = Counter()
    with session_scope() as session:
        for email, kind, article, content in session.execute(
            select(Member.email, Send.kind, Send.article_id, Delivery.content)
            .join(Delivery, Delivery.member_id == Member.id)
            .join(Send, Send.id == Delivery.send_id)
        ):
            in_digest = any(article_id in ids for _, ids in (content or {}).get("groups", []))
            found[email] += (kind == SendKind.ALERT and article == article_id) or in_digest
    return found

"""The watch: beat runs it every WATCH_SECONDS to find what is wrong, records it as incidents and
tells the admins once per incident (incidents.py, staff_alerts.py).

What it looks for:

- a send stuck: rows a worker took more than SENDING_TIMEOUT_SECONDS ago and never answered
  (the worker died or crashes on the batch); the incident lasts until the send is over;
- a scheduled send missed (its time passed by more than SCHEDULE_GRACE_MINUTES unstarted);
- a digest that did not run: past its hour plus the grace, no send for this period;
- the email backend refusing everything: many attempts in the last minutes and none taken;
  the incident lasts until an email is taken again;
- no worker: no worker heartbeat for a while, so nothing queued will be sent.

Beat itself is watched from outside: its heartbeat is on the dashboard and in /metrics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter import incidents, staff_alerts
from newsletter.config import Settings, get_settings
from newsletter.db import session_scope
from newsletter.delivery import digests
from newsletter.incidents import Finding
from newsletter.models import (
    Delivery,
    DeliveryStatus,
    IncidentKind,
    ProcessKind,
    Send,
    SendStatus,
    utcnow,
)
from newsletter.observability import heartbeat, state
from newsletter.scheduling import DIGEST_FREQUENCIES, digest_due_at, digest_period

log = logging.getLogger(__name__)

REFUSAL_WINDOW = timedelta(minutes=10)
REFUSAL_MIN_ATTEMPTS = 10
MISSED_LOOKBACK = timedelta(days=7)


@dataclass(frozen=True)
class Pass:
    findings: list[Finding]
    told: list[int]  # incidents the admins were told of in this pass


def run(
    settings: Settings | None = None, now: datetime | None = None, since: datetime | None = None
) -> Pass:
    """One pass: find, record, tell. `since`: when this watcher started (for "no worker")."""
    settings = settings or get_settings()
    now = now or utcnow()
    with session_scope(settings.DATABASE_URL) as session:
        findings = find(session, now, settings, since or now)
        incidents.sync(session, list(IncidentKind), findings, now)
    with session_scope(settings.DATABASE_URL) as session:
        untold = incidents.claim_untold(session, now)
        addresses = staff_alerts.recipients(session, settings) if untold else []
    told = []
    for incident in untold:
        error = staff_alerts.tell(incident, addresses, settings)
        if error:
            log.warning("could not tell the admins of %r: %s", incident.summary, error)
        else:
            told.append(incident.id)
        with session_scope(settings.DATABASE_URL) as session:
            incidents.told(session, incident.id, utcnow(), error)
    return Pass(findings, told)


def find(session: Session, now: datetime, settings: Settings, since: datetime) -> list[Finding]:
    return [
        *stuck_sends(session, now, settings),
        *missed_sends(session, now),
        *digests_not_run(session, now, settings),
        *backend_refusing(session, now, settings),
        *no_worker(session, now, settings, since),
    ]


def _describe_send(session: Session, send_id: int) -> str:
    send = session.get(Send, send_id)
    if send is None:
        return f"send {send_id}"
    subject = f" “{send.subject}”" if send.subject else ""
    return f"{send.kind.value} send {send.id}{subject}"


def stuck_sends(session: Session, now: datetime, settings: Settings) -> list[Finding]:
    running = list(session.scalars(select(Send.id).where(Send.status == SendStatus.SENDING)))
    stuck = state.stuck_rows(session, running, now, settings)
    # Once stuck, a send stays an incident until it is over: the sweep hands its rows back
    # to the queue, and they may well get stuck again.
    for key in incidents.open_keys(session, IncidentKind.STUCK_SEND):
        send_id = int(key.rpartition(":")[2])
        if send_id in running:
            stuck.setdefault(send_id, 0)
    timeout = settings.SENDING_TIMEOUT_SECONDS
    return [
        Finding(
            IncidentKind.STUCK_SEND,
            f"stuck_send:{send_id}",
            f"{_describe_send(session, send_id)} is stuck",
            f"{rows} of its emails were taken by a worker more than {timeout} s ago "
            "(NEWSLETTER_SENDING_TIMEOUT_SECONDS) and never answered: the worker stopped, or "
            "fails on them. Look at the worker logs; the recovery sweep hands them out again."
            if rows
            else "Its emails were stuck earlier and it has not finished since.",
        )
        for send_id, rows in sorted(stuck.items())
    ]


def missed_sends(session: Session, now: datetime) -> list[Finding]:
    missed = session.scalars(
        select(Send.id).where(
            Send.status == SendStatus.MISSED, Send.scheduled_at >= now - MISSED_LOOKBACK
        )
    )
    return [
        Finding(
            IncidentKind.MISSED_SEND,
            f"missed_send:{send_id}",
            f"{_describe_send(session, send_id)} missed its time",
            "It was not started within NEWSLETTER_SCHEDULE_GRACE_MINUTES of its time (was beat "
            "running?). Send it now with `newsletter sends retry ID`, or cancel it.",
        )
        for send_id in missed
    ]


def digests_not_run(session: Session, now: datetime, settings: Settings) -> list[Finding]:
    tz = ZoneInfo(settings.TIMEZONE)
    grace = timedelta(minutes=settings.SCHEDULE_GRACE_MINUTES)
    findings = []
    for frequency in DIGEST_FREQUENCIES:
        due = digest_due_at(
            frequency, now, tz, settings.DIGEST_HOUR, settings.WEEKLY_DIGEST_WEEKDAY
        )
        if now < due + grace:
            continue
        # Only members subscribed before the digest's time were owed it: a service set up (or a
        # first subscriber added) after today's hour has missed nothing.
        if not digests.missing(session, frequency, due, tz):
            continue
        period = digest_period(frequency, due, tz)
        findings.append(
            Finding(
                IncidentKind.DIGEST_NOT_RUN,
                f"digest_not_run:{frequency.value}:{period}",
                f"the {frequency.value} digest for {period} did not run",
                f"It was due at {due.astimezone(tz):%Y-%m-%d %H:%M} ({settings.TIMEZONE}). Is "
                f"beat running, and a worker on the schedule queue? Run it now with "
                f"`newsletter digest run --frequency {frequency.value}`.",
            )
        )
    return findings


def backend_refusing(session: Session, now: datetime, settings: Settings) -> list[Finding]:
    since = now - REFUSAL_WINDOW
    sends = state.sends_since(session, since)
    if not sends:
        return []
    counts = dict(
        session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.send_id.in_(sends), Delivery.claimed_at >= since)
            .group_by(Delivery.status)
        ).all()
    )
    sent = counts.get(DeliveryStatus.SENT, 0)
    refused = counts.get(DeliveryStatus.DEFERRED, 0) + counts.get(DeliveryStatus.FAILED, 0)
    already = bool(incidents.open_keys(session, IncidentKind.BACKEND_REFUSING))
    # Open while nothing is taken: retries back off, so a quiet window proves nothing.
    if sent or (refused < REFUSAL_MIN_ATTEMPTS and not already):
        return []
    last_error = session.scalar(
        select(Delivery.last_error)
        .where(
            Delivery.send_id.in_(sends),
            Delivery.status.in_([DeliveryStatus.DEFERRED, DeliveryStatus.FAILED]),
        )
        .order_by(Delivery.claimed_at.desc())
        .limit(1)
    )
    return [
        Finding(
            IncidentKind.BACKEND_REFUSING,
            "backend_refusing",
            f"the email backend ({settings.EMAIL_BACKEND}) takes no email",
            f"None of the last {refused} attempts in {REFUSAL_WINDOW.seconds // 60} minutes was "
            f"taken. Last answer: {last_error or 'none'}",
        )
    ]


def no_worker(
    session: Session, now: datetime, settings: Settings, since: datetime
) -> list[Finding]:
    wait = timedelta(seconds=heartbeat.max_age(settings))
    last = heartbeat.last_seen(session, ProcessKind.WORKER)
    if now - since < wait or (last is not None and now - last < wait):
        return []
    heard = f"last heard at {last:%Y-%m-%d %H:%M:%S} UTC" if last else "none has ever run"
    return [
        Finding(
            IncidentKind.NO_WORKER,
            "no_worker",
            "no worker is running",
            f"No worker heartbeat for {wait.seconds} s ({heard}): queued email waits. Start "
            "`newsletter worker`.",
        )
    ]

"""Failed staff sign-ins: slowed down per (account, client), capped per client, and recorded.

Counting failures per account alone let anyone lock a colleague out by typing five wrong
passwords. Here the delays grow only for the pair (account, client) that keeps failing, so a
stranger elsewhere slows down nobody but themselves; each client also has a cap over all
accounts, so it cannot simply try every colleague in turn. Every failure is in the audit log.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from newsletter import audit, throttle
from newsletter.models import utcnow
from newsletter.staff import find_staff

FREE_FAILURES = 5  # a person mistyping is never slowed down
FIRST_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(minutes=15)
# Failures of one account from one client, over a day; a success starts afresh.
PER_PAIR = throttle.Limit("login:pair", FREE_FAILURES, timedelta(days=1))  # then delay_after
# Failures from one client over all accounts.
PER_CLIENT = throttle.Limit("login:client", 20, timedelta(minutes=15), key=throttle.client_key)


def delay_after(failures: int) -> timedelta:
    """How long a client must wait after its nth failure for one account: nothing at first,
    then 30 s, doubling each time up to 15 minutes."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    return min(MAX_DELAY, FIRST_DELAY * 2 ** (failures - FREE_FAILURES))


def pair_key(email: str, client: str) -> str:
    return f"{email.strip().lower()}|{throttle.client_key(client)}"


def wait_before_next(
    session: Session, email: str, client: str, now: datetime | None = None
) -> timedelta:
    """How long this client must wait before it may try this account again (zero: now)."""
    now = now or utcnow()
    if throttle.exceeded(session, PER_CLIENT, client, now):
        return PER_CLIENT.window
    failures, last = throttle.recent(session, PER_PAIR, pair_key(email, client), now)
    if last is None:
        return timedelta(0)
    return max(timedelta(0), last + delay_after(failures) - now)


def record_failure(session: Session, email: str, client: str, now: datetime | None = None) -> None:
    now = now or utcnow()
    throttle.hit(session, PER_PAIR, pair_key(email, client), now)
    throttle.hit(session, PER_CLIENT, client, now)
    user = find_staff(session, email)
    # The typed address is kept only when it is an account's: someone who typed their
    # password into the address field must not find it in the audit log.
    audit.record(
        session,
        f"client:{client}"[:320],
        "staff.login_failed",
        "staff",
        user.id if user else "",
        email=user.email if user else "(no such account)",
        client=client,
    )


def record_success(session: Session, email: str, client: str) -> None:
    throttle.clear(session, PER_PAIR, pair_key(email, client))


def wait_phrase(wait: timedelta) -> str:
    seconds = max(1, int(wait.total_seconds() + 0.999))
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{-(-seconds // 60)} minutes"

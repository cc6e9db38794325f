"""Who may receive a send, as SQL conditions correlated to `Member`: the one statement of the
rule that fan-out, the ledger's claim, digests, preferences and the console all apply.

`audience.may_receive` and `audience.claim_verdict` state the same rule for one member in
Python (pure, unit-tested); these are its set-based twins, named `member_...` so the two are
told apart.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, false, func, true

from newsletter.audience import Audience
from newsletter.models import Member, MemberStatus, Subscription, Suppression


def member_suppressed() -> ColumnElement[bool]:
    """The member's address is on the suppression list."""
    return exists().where(Suppression.email == Member.email)


def member_may_receive() -> ColumnElement[bool]:
    """SQL twin of audience.may_receive: active, not paused, not suppressed."""
    return and_(
        Member.status == MemberStatus.ACTIVE,
        Member.paused.is_(False),
        ~member_suppressed(),
    )


def member_in_audience(audience: Audience) -> ColumnElement[bool]:
    """SQL twin of an Audience: a matching subscription, and a matching role if any are named."""
    if audience.topic_ids is not None and not audience.topic_ids:
        return false()
    return and_(exists().where(*subscription_matches(audience)), role_matches(audience))


def subscription_matches(audience: Audience) -> list[ColumnElement[bool]]:
    """What one of a Member's subscriptions must be for them to be in the audience."""
    conditions: list[ColumnElement[bool]] = [Subscription.member_id == Member.id]
    if audience.topic_ids is not None:
        conditions.append(Subscription.topic_id.in_(audience.topic_ids))
    if audience.frequencies is not None:
        conditions.append(Subscription.frequency.in_(audience.frequencies))
    return conditions


def role_matches(audience: Audience) -> ColumnElement[bool]:
    if not audience.roles:
        return true()
    return func.lower(Member.role).in_([r.lower() for r in audience.roles])

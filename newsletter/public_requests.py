"""What a visitor asks on the public forms (subscribe, send me my manage link), taken in the
same way for any address and carried out by a worker after the response.

Whether an address is a member, a stranger or on the suppression list must not show, not even
in how long the answer takes (issue 16: a member's manage link took 85 ms, a stranger's 3 ms,
because only a member's was built and sent in the request). So the request does only what it
does for every address: check the form, take the mail allowance (counted for unknown addresses
too) and store the request as a job; the response is the same page. A worker then looks the
address up and does what preferences.subscribe / request_manage_link say: the confirm email,
the manage link, or nothing. The job row is deleted once done, so the address is not kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from newsletter import preferences
from newsletter.members import normalise_email
from newsletter.models import Frequency, Job

SUBSCRIBE = "subscribe"
MANAGE_LINK = "manage-link"
ACTOR = "member"


def take_subscribe(
    session: Session,
    *,
    email: str,
    name: str,
    role: str,
    topics: Mapping[str, Frequency],
    client: str,
) -> Job:
    """Check and store a subscribe request (no topics: the role's defaults); raises MemberError
    or TooManyRequests."""
    details = {"name": name, "role": role, "topics": {s: f.value for s, f in topics.items()}}
    return _take(session, SUBSCRIBE, email, client, details)


def take_manage_link(session: Session, email: str, client: str) -> Job:
    """Check and store a request for the manage link; raises MemberError or TooManyRequests."""
    return _take(session, MANAGE_LINK, email, client, {})


def _take(session: Session, kind: str, email: str, client: str, details: dict[str, Any]) -> Job:
    email = normalise_email(email)
    preferences.take_mail_allowance(session, email, client)
    job = Job(kind=kind, payload=email, options=details, created_by=ACTOR, total=1)
    session.add(job)
    session.flush()
    return job


def carry_out(session: Session, kind: str, email: str, details: dict[str, Any]) -> dict[str, Any]:
    """The worker's half: what the form asked, for whoever the address turns out to be.
    Returns nothing to show: the job is deleted once done."""
    if kind == SUBSCRIBE:
        topics = {slug: Frequency(value) for slug, value in details["topics"].items()}
        preferences.subscribe(
            session,
            email=email,
            name=str(details["name"]),
            role=str(details["role"]),
            topics=topics,
            client=None,
        )
    else:
        preferences.request_manage_link(session, email, client=None)
    session.commit()  # and the email (member_mail) goes to a worker
    return {}

"""A member changes their email address from their manage page.

1. `request_change`: the member (holding a manage link) types a new address; a link is sent to
   it (member_mail ADDRESS_CONFIRM), signed with the address, the member's link version and
   the time (links.address_token: valid for 7 days). Nothing changes yet, and the page says
   the same whatever the address: whether it is another member's or suppressed is not told.
2. `confirm_change`: whoever holds that link confirms it by POST. The address becomes the
   member's, recorded in the consent record (ConsentField.EMAIL, source manage-page); every
   link sent before stops working (token_version + 1, which also makes this link single use);
   the old address is told (ADDRESS_CHANGED, which carries no link of ours).

Refused at that point, changing nothing: an address that is now another member's (one address
is one member: they manage that subscription from it instead) or on the suppression list (it
bounced, complained, or asked for no mail; a suppressed address is never sent the link in the
first place, since the worker sets suppressed addresses aside).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter import audit, consent, links, member_mail
from newsletter.consent import by_member
from newsletter.member_mail import MemberMail
from newsletter.members import MemberError, normalise_email
from newsletter.models import ConsentField, ConsentSource, Member, MemberStatus
from newsletter.preferences import ACTOR, current_member, is_suppressed, take_mail_allowance


class AddressUnavailable(Exception):
    """The new address cannot be this member's; the message says why, to its owner."""


@dataclass(frozen=True)
class AddressChanged:
    member: Member
    old: str
    new: str


def request_change(session: Session, member: Member, new_email: str, client: str) -> None:
    """Queue the confirmation link to `new_email`; raises MemberError for an address that is
    not valid or is already the member's, preferences.TooManyRequests."""
    new = normalise_email(new_email)
    if new == member.email:
        raise MemberError("This is already your address.")
    take_mail_allowance(session, new, client)
    audit.record(session, ACTOR, "member.email_change_asked", "member", member.id)
    member_mail.queue(session, MemberMail.ADDRESS_CONFIRM, member, to=new)


def member_for_address_link(session: Session, token: str) -> tuple[Member, str]:
    """The member a change-of-address link is for, and the new address; raises BadLink for a
    link that was altered, has expired, was revoked or has been used."""
    link = links.read_address_token(token)
    member = current_member(session, link.member_id, link.token_version)
    if member.email == link.email:
        raise links.BadLink("this link is not valid")
    return member, link.email


def confirm_change(session: Session, token: str) -> AddressChanged:
    """Make the link's address the member's; raises BadLink, AddressUnavailable (after
    rolling the transaction back if the address was taken meanwhile)."""
    member, new = member_for_address_link(session, token)
    if is_suppressed(session, new):
        raise AddressUnavailable(
            "We cannot send emails to this address: it is on our list of addresses that "
            "asked for no email or could not be reached. Nothing has changed."
        )
    if _owner(session, new) is not None:
        raise AddressUnavailable(_TAKEN)
    old = member.email
    change = by_member(ConsentSource.MANAGE_PAGE)
    member.email = new
    member.token_version += 1
    try:
        session.flush()
    except IntegrityError:  # taken in the meantime: this transaction cannot go on
        session.rollback()
        raise AddressUnavailable(_TAKEN) from None
    consent.record(session, member, ConsentField.EMAIL, change, old=old, new=new)
    if member.status == MemberStatus.BOUNCED:  # it was the old address that bounced
        status = MemberStatus.ACTIVE if member.subscriptions else MemberStatus.UNSUBSCRIBED
        consent.set_status(session, member, status, change)
    session.flush()
    audit.record(session, ACTOR, "member.email_change", "member", member.id, old=old, new=new)
    member_mail.queue(session, MemberMail.ADDRESS_CHANGED, member, to=old, details={"new": new})
    return AddressChanged(member, old, new)


_TAKEN = (
    "This address already has a subscription of its own, so it cannot take another. Nothing "
    "has changed: you can manage the emails it gets with a link from the 'Change what you "
    "receive' page, or unsubscribe it there first."
)


def _owner(session: Session, email: str) -> int | None:
    return session.scalar(select(Member.id).where(Member.email == email))

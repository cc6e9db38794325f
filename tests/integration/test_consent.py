"""The consent record and the opt-outs only a member can undo, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from newsletter import consent, preferences
from newsletter.consent import Change, by_member
from newsletter.member_import import import_members
from newsletter.members import find_member, upsert_member
from newsletter.models import (
    ConsentField,
    ConsentSource,
    Frequency,
    Member,
    MemberStatus,
    OptOut,
    Send,
    SendKind,
)
from newsletter.topics import topics_by_slug

IMPORT = Change(ConsentSource.IMPORT, "cli:test")
API = Change(ConsentSource.API, "token:crm")


def _member(session: Session, topics: dict[str, Frequency]) -> Member:
    done = upsert_member(session, "ann@example.com", "Ann", "SENCO", topics, change=IMPORT)
    session.commit()
    return done.member


def _alert_for(session: Session, *slugs: str) -> Send:
    ids = [topics_by_slug(session)[slug].id for slug in slugs]
    send = Send(kind=SendKind.ALERT, audience={"topic_ids": ids, "frequencies": None, "roles": []})
    session.add(send)
    session.flush()
    return send


def _slugs(member: Member, session: Session) -> dict[str, str]:
    return {s: f.value for s, f in preferences.subscription_map(session, member).items()}


def test_a_one_click_opt_out_survives_an_import_that_lists_the_topic(session: Session) -> None:
    member = _member(session, {"funding": Frequency.IMMEDIATE, "npq": Frequency.WEEKLY})
    preferences.unsubscribe_from_send(session, member, _alert_for(session, "funding"))
    session.commit()

    csv = "email,name,role,topics\nann@example.com,Ann A,SENCO,funding:daily;npq:daily\n"
    report = import_members(session, csv, actor="cli:test")
    session.commit()

    member = find_member(session, "ann@example.com")
    assert member is not None
    assert _slugs(member, session) == {"npq": "daily"}  # the rest of the row applied
    assert member.name == "Ann A"
    assert report.written


def test_an_api_upsert_reports_the_kept_topic(session: Session) -> None:
    member = _member(session, {"funding": Frequency.IMMEDIATE, "npq": Frequency.WEEKLY})
    preferences.unsubscribe_from_send(session, member, _alert_for(session, "funding"))
    session.commit()

    asked = {"funding": Frequency.DAILY, "itt": Frequency.DAILY}
    done = upsert_member(session, "ann@example.com", topics=asked, change=API)
    assert [k.topic for k in done.kept] == ["funding"]
    assert "funding: kept unsubscribed: the member opted out on" in done.kept[0].message()
    assert "via one-click" in done.kept[0].message()
    assert _slugs(done.member, session) == {"itt": "daily"}


def test_leaving_everything_keeps_the_member_off_new_topics_too(session: Session) -> None:
    member = _member(session, {"funding": Frequency.IMMEDIATE})
    preferences.unsubscribe_from_send(session, member, _alert_for(session, "funding"))
    session.commit()

    done = upsert_member(session, "ann@example.com", topics={"itt": Frequency.DAILY}, change=API)
    assert [k.topic for k in done.kept] == [None]
    assert done.kept[0].message().startswith("kept unsubscribed: the member opted out on")
    assert _slugs(done.member, session) == {}
    assert done.member.status == MemberStatus.UNSUBSCRIBED


def test_the_member_can_opt_back_in_from_the_manage_page(session: Session) -> None:
    member = _member(session, {"funding": Frequency.IMMEDIATE})
    preferences.unsubscribe_from_send(session, member, _alert_for(session, "funding"))
    preferences.update_topics(session, member, {"funding": Frequency.WEEKLY})
    session.commit()

    assert _slugs(member, session) == {"funding": "weekly"}
    assert member.status == MemberStatus.ACTIVE
    assert member.opted_out_at is None
    assert session.query(OptOut).count() == 0
    done = upsert_member(
        session, "ann@example.com", topics={"funding": Frequency.DAILY}, change=API
    )
    assert done.kept == []


def test_every_change_is_in_the_record_with_its_source(session: Session) -> None:
    member = _member(session, {"funding": Frequency.IMMEDIATE})
    preferences.unsubscribe_from_send(session, member, _alert_for(session, "funding"))
    session.commit()

    events = [
        (e.field, e.old_value, e.new_value, e.source, e.actor)
        for e in consent.history(session, member.id)
    ]
    assert events == [
        (ConsentField.STATUS, "", "active", ConsentSource.IMPORT, "cli:test"),
        (ConsentField.SUBSCRIPTION, "", "immediate", ConsentSource.IMPORT, "cli:test"),
        (ConsentField.SUBSCRIPTION, "immediate", "", ConsentSource.ONE_CLICK, "member"),
        (ConsentField.STATUS, "active", "unsubscribed", ConsentSource.ONE_CLICK, "member"),
    ]


def test_an_admin_override_needs_a_reason() -> None:
    try:
        Change(ConsentSource.CONSOLE, "admin@example.org", override_opt_out=True)
    except ValueError as exc:
        assert "reason" in str(exc)
    else:
        raise AssertionError("an override without a reason was accepted")


def test_the_subscribe_form_does_not_lift_an_opt_out_until_the_member_confirms(
    session: Session,
) -> None:
    member = _member(session, {"funding": Frequency.IMMEDIATE})
    preferences.unsubscribe_all(session, member, by_member(ConsentSource.ONE_CLICK))
    session.commit()
    assert member.opted_out_source == ConsentSource.ONE_CLICK

    preferences.subscribe(
        session,
        email="ann@example.com",
        name="",
        role="",
        topics={"funding": Frequency.DAILY},
        client="127.0.0.1",
    )
    session.commit()
    assert member.status == MemberStatus.PENDING
    assert member.opted_out_at is not None  # a stranger could have typed the address
    assert consent.may_reactivate(member, IMPORT) is not None


def test_becoming_active_stores_where_the_consent_comes_from(session: Session) -> None:
    done = upsert_member(
        session,
        "bob@example.com",
        topics={"npq": Frequency.WEEKLY},
        change=Change(ConsentSource.API, "token:crm", reason="association membership terms"),
    )
    assert done.member.consent_basis == "association membership terms"
    assert done.member.consent_at is not None
    plain = upsert_member(session, "cat@example.com", change=API)
    assert plain.member.consent_basis == "api"


def test_a_complaint_is_a_whole_list_opt_out_whoever_records_it(session: Session) -> None:
    member = _member(session, {"funding": Frequency.IMMEDIATE})
    consent.set_status(session, member, MemberStatus.COMPLAINED, Change(ConsentSource.CONSOLE, "x"))
    assert member.opted_out_source == ConsentSource.COMPLAINT
    assert consent.may_reactivate(member, API) is not None


def test_a_pause_with_an_end_is_resumed_when_it_ends(session: Session) -> None:
    member = _member(session, {"funding": Frequency.IMMEDIATE})
    until = datetime(2030, 1, 1, tzinfo=UTC)
    consent.set_paused(session, member, True, by_member(ConsentSource.MANAGE_PAGE), until=until)
    session.commit()

    assert consent.end_pauses(session, until - timedelta(seconds=1)) == 0
    assert member.paused
    assert consent.end_pauses(session, until) == 1
    assert not member.paused and member.paused_until is None
    pauses = [
        (e.old, e.new, e.source, e.actor)
        for e in consent.history_entries(session, member.id)
        if e.field == ConsentField.PAUSE
    ]
    assert pauses == [
        ("", "paused until 2030-01-01T00:00:00+00:00", ConsentSource.MANAGE_PAGE, "member"),
        ("paused until 2030-01-01T00:00:00+00:00", "", ConsentSource.MANAGE_PAGE, "system"),
    ]

"""The dashboard counts emails per day in the association's time zone (NEWSLETTER_TIMEZONE),
not per UTC day: an email sent at 00:30 in London in summer belongs to that London day."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsletter import dashboard_figures
from newsletter.models import Delivery, DeliveryStatus
from newsletter.web import charts
from tests.support.delivery_data import add_member, fan_out_breaking


def sent_at(session: Session, send_id: int, moments: list[datetime]) -> None:
    ids = session.scalars(
        select(Delivery.id).where(Delivery.send_id == send_id).order_by(Delivery.id)
    )
    for delivery_id, moment in zip(list(ids), moments, strict=True):
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(status=DeliveryStatus.SENT, sent_at=moment)
        )
    session.commit()


def test_emails_are_counted_on_the_local_day(session: Session) -> None:
    for name in ("ann", "bob", "cat"):
        add_member(session, f"{name}@example.com", {"funding": "immediate"})
    send_id = fan_out_breaking(session)
    sent_at(
        session,
        send_id,
        [
            datetime(2026, 7, 1, 22, 59, tzinfo=UTC),  # 23:59 on 1 July in London
            datetime(2026, 7, 1, 23, 30, tzinfo=UTC),  # 00:30 on 2 July in London
            datetime(2026, 7, 2, 12, 0, tzinfo=UTC),  # 13:00 on 2 July in London
        ],
    )
    now = datetime(2026, 7, 3, 9, 0, tzinfo=UTC)

    london = dashboard_figures.sent_per_day(
        session, days=3, now=now, zone=ZoneInfo("Europe/London")
    )
    utc = dashboard_figures.sent_per_day(session, days=3, now=now, zone=ZoneInfo("UTC"))

    assert london.days == [date(2026, 7, 1), date(2026, 7, 2), date(2026, 7, 3)]
    assert london.series == [("Funding", [1, 2, 0])] and london.total == 3
    assert utc.series == [("Funding", [2, 1, 0])]
    chart = charts.stacked_bars(london.days, london.series, "Emails sent per day")
    assert "<title>Funding, 02 Jul: 2</title>" in chart  # what staff see on hovering the bar


def test_the_default_zone_is_the_setting(session: Session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from newsletter.config import get_settings

    add_member(session, "ann@example.com", {"funding": "immediate"})
    send_id = fan_out_breaking(session)
    sent_at(session, send_id, [datetime(2026, 1, 10, 20, 0, tzinfo=UTC)])  # 11 Jan in Tokyo
    monkeypatch.setenv("NEWSLETTER_TIMEZONE", "Asia/Tokyo")
    get_settings.cache_clear()

    days = dashboard_figures.sent_per_day(
        session, days=2, now=datetime(2026, 1, 11, 1, 0, tzinfo=UTC)
    )

    assert days.days == [date(2026, 1, 10), date(2026, 1, 11)]
    assert days.series == [("Funding", [0, 1])]

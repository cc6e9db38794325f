"""School terms from iCalendar and CSV files, refused when backwards or overlapping, and the
holidays between them."""

from __future__ import annotations

from datetime import date

import pytest
from icalendar import Calendar, Event

from newsletter.term_dates import (
    Term,
    TermError,
    check_terms,
    in_holiday,
    read_terms,
    region_key,
)

CSV = b"name,starts,ends\nAutumn 1,2026-09-03,2026-10-23\nAutumn 2,2026-11-02,2026-12-18\n"


def ics(*events: tuple[str, date, date]) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//test//EN")
    calendar.add("version", "2.0")
    for summary, starts, day_after in events:
        event = Event()
        event.add("summary", summary)
        event.add("dtstart", starts)
        event.add("dtend", day_after)
        calendar.add_component(event)
    return calendar.to_ical()


def test_csv_and_ics_give_the_same_terms_with_ics_end_exclusive() -> None:
    from_csv = read_terms("england.csv", CSV)
    from_ics = read_terms(
        "england.ics",
        ics(
            ("Autumn 1", date(2026, 9, 3), date(2026, 10, 24)),
            ("Autumn 2", date(2026, 11, 2), date(2026, 12, 19)),
        ),
    )
    assert [(t.name, t.starts, t.ends) for t in from_csv] == [
        ("Autumn 1", date(2026, 9, 3), date(2026, 10, 23)),
        ("Autumn 2", date(2026, 11, 2), date(2026, 12, 18)),
    ]
    assert [(t.name, t.starts, t.ends) for t in from_ics] == [
        (t.name, t.starts, t.ends) for t in from_csv
    ]


def test_half_term_is_a_holiday_and_term_days_and_unknown_days_are_not() -> None:
    terms = read_terms("england.csv", CSV)
    assert in_holiday(terms, date(2026, 10, 26))  # half term week
    assert in_holiday(terms, date(2026, 11, 1))
    assert not in_holiday(terms, date(2026, 10, 23))  # last day of term
    assert not in_holiday(terms, date(2026, 11, 2))  # first day back
    assert not in_holiday(terms, date(2026, 8, 20))  # before the first known term
    assert not in_holiday(terms, date(2027, 1, 4))  # after the last known term
    assert not in_holiday([], date(2026, 10, 26))


def test_a_backwards_term_is_refused_naming_its_line_or_event() -> None:
    backwards = CSV + b"Spring 1,2027-02-12,2027-01-05\n"
    with pytest.raises(TermError, match=r"^line 4: it ends \(2027-01-05\) before it starts"):
        read_terms("england.csv", backwards)
    with pytest.raises(TermError, match=r"^event 1 \(Spring\): it ends"):
        read_terms("wales.ics", ics(("Spring", date(2027, 2, 12), date(2027, 1, 5))))


def test_overlapping_terms_are_refused_naming_both() -> None:
    overlapping = CSV + b"Autumn 2 again,2026-12-01,2026-12-20\n"
    with pytest.raises(
        TermError, match=r"^line 3: it overlaps line 4 \(2026-12-01 to 2026-12-20\)"
    ):
        read_terms("england.csv", overlapping)
    kept = [Term("Autumn 1", date(2026, 9, 3), date(2026, 10, 23))]
    with pytest.raises(TermError, match="overlaps Autumn 1 kept already"):
        check_terms([Term("Extra", date(2026, 10, 1), date(2026, 10, 2), "line 2")], kept)


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("terms.txt", CSV, "give an iCalendar"),
        ("terms.csv", b"term,from,to\n", "line 1: the header must be name,starts,ends"),
        ("terms.csv", b"name,starts,ends\nAutumn,3 Sept,2026-10-23\n", "line 2: '3 Sept'"),
        ("terms.csv", b"name,starts,ends\n", "holds no terms"),
        ("terms.ics", b"not a calendar", "not an iCalendar file"),
    ],
)
def test_unusable_files_are_refused_in_one_line(name: str, data: bytes, problem: str) -> None:
    with pytest.raises(TermError, match=problem) as refused:
        read_terms(name, data)
    assert "\n" not in str(refused.value)


def test_region_names_become_keys() -> None:
    assert region_key(" Northern Ireland ") == "northern-ireland"
    with pytest.raises(TermError, match="not a region name"):
        region_key("Kent; drop table")

"""Dates in prose: the issue's examples exactly, the forms British writing uses, and no crash."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.articles.deadlines import find_deadlines
from newsletter.models import DatePrecision, DeadlineKind


def found(text: str, reference: date) -> list[tuple[str, str, str]]:
    return [
        (d.date.isoformat(), d.precision.value, d.kind.value)
        for d in find_deadlines(text, reference)
    ]


def test_a_range_opens_and_closes_and_the_year_carries_back() -> None:
    sentence = (
        "From 13 February to 27 March 2020 awarding organisations will have an opportunity "
        "to notify Ofqual of changes."
    )
    results = find_deadlines(sentence, date(2020, 1, 20))
    assert [(d.date, d.precision, d.kind) for d in results] == [
        (date(2020, 2, 13), DatePrecision.DAY, DeadlineKind.OPENS),
        (date(2020, 3, 27), DatePrecision.DAY, DeadlineKind.CLOSES),
    ]
    assert all(d.text == sentence for d in results)


def test_a_month_with_a_year_is_an_announcement_of_month_precision() -> None:
    text = "Entries are being reviewed, and in July 2020 the DfE will confirm the final list."
    assert found(text, date(2020, 1, 20)) == [("2020-07-01", "month", "announcement")]


def test_from_a_date_is_when_a_change_takes_effect() -> None:
    assert found("The new rules apply from 1 August 2021.", date(2021, 3, 1)) == [
        ("2021-08-01", "day", "effective")
    ]


def test_a_date_before_first_publication_is_history_not_a_deadline() -> None:
    text = "On 3 December 2020, the Department announced a review of funding."
    assert found(text, date(2020, 12, 10)) == []
    # The same sentence in an article published before that day is something to look out for.
    assert found(text, date(2020, 11, 1)) == [("2020-12-03", "day", "announcement")]


def test_by_until_no_later_than_and_closes_on_are_closing_dates() -> None:
    reference = date(2021, 1, 4)
    assert found("Send your bid by 5 March 2021.", reference) == [("2021-03-05", "day", "closes")]
    assert found("The offer runs until 30 April 2021.", reference) == [
        ("2021-04-30", "day", "closes")
    ]
    assert found("Returns are due no later than 1 June 2021.", reference) == [
        ("2021-06-01", "day", "closes")
    ]
    assert found("The survey closes on 12 February 2021.", reference) == [
        ("2021-02-12", "day", "closes")
    ]
    assert found("The deadline for applications is 19 March 2021.", reference) == [
        ("2021-03-19", "day", "closes")
    ]


def test_money_to_be_spent_by_a_date_is_not_an_application_closing() -> None:
    reference = date(2026, 11, 20)
    assert found("Grants must be spent by 31 March 2028.", reference) == [
        ("2028-03-31", "day", "complete_by")
    ]
    assert found("Schools should spend the funding by 31 August 2027.", reference) == [
        ("2027-08-31", "day", "complete_by")
    ]
    assert found("New systems must be in place by 1 September 2027.", reference) == [
        ("2027-09-01", "day", "complete_by")
    ]
    # Bids and applications still close.
    assert found("Bids must be submitted by 18 December 2026.", reference) == [
        ("2026-12-18", "day", "closes")
    ]


def test_weekday_prefix_and_ordinal_with_the_year_taken_from_the_weekday() -> None:
    # 27 March was a Friday in 2020, not in 2021: the weekday picks the year.
    text = "The portal closes at 5pm on Friday 27th March."
    assert found(text, date(2020, 1, 6)) == [("2020-03-27", "day", "closes")]
    assert found("Bids close on the 3rd of June 2020.", date(2020, 1, 6)) == [
        ("2020-06-03", "day", "closes")
    ]


def test_a_date_without_a_year_is_the_next_one_after_publication() -> None:
    assert found("Applications close on 10 January.", date(2019, 12, 2)) == [
        ("2020-01-10", "day", "closes")
    ]


def test_day_ranges_and_between() -> None:
    reference = date(2020, 1, 1)
    assert found("The window runs 13–27 March 2020.", reference) == [
        ("2020-03-13", "day", "opens"),
        ("2020-03-27", "day", "closes"),
    ]
    assert found("Apply between 1 and 5 June 2020.", reference) == [
        ("2020-06-01", "day", "opens"),
        ("2020-06-05", "day", "closes"),
    ]


def test_opens_and_closes_in_one_sentence_share_the_year() -> None:
    text = "Applications open on 23 November and close on 15 January 2027."
    assert found(text, date(2026, 11, 17)) == [
        ("2026-11-23", "day", "opens"),
        ("2027-01-15", "day", "closes"),
    ]


def test_a_month_alone_needs_a_preposition_and_may_is_not_always_a_month() -> None:
    reference = date(2020, 1, 6)
    assert found("Submit it by the end of May.", reference) == [("2020-05-01", "month", "closes")]
    assert found("May Smith will lead the training.", reference) == []
    assert found("Schools may apply on 4 may.", reference) == []


def test_impossible_dates_are_ignored() -> None:
    assert found("The window closes on 31 February 2021.", date(2021, 1, 1)) == []


def test_each_date_keeps_its_own_sentence() -> None:
    text = "Applications open on 2 March 2021. They close on 30 April 2021."
    results = find_deadlines(text, date(2021, 1, 1))
    assert [(d.kind.value, d.text) for d in results] == [
        ("opens", "Applications open on 2 March 2021."),
        ("closes", "They close on 30 April 2021."),
    ]


@settings(max_examples=300, deadline=None)
@given(st.text(), st.dates())
def test_never_crashes_on_arbitrary_text(text: str, reference: date) -> None:
    for item in find_deadlines(text, reference):
        assert item.date >= reference.replace(day=1)


DATEISH = st.lists(
    st.sampled_from(
        [
            "1", "27th", "31", "0", "99", "March", "May", "Feb", "2020", "9999", "Friday", "from",
            "to", "–", "between", "and", "by", "until", "no later than", "closes on", "the",
            "of", "in", ".", ",", "\n", " ",
        ]
    ),
    max_size=30,
).map(" ".join)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(DATEISH, st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1)))
def test_never_crashes_on_date_like_word_salad(text: str, reference: date) -> None:
    find_deadlines(text, reference)

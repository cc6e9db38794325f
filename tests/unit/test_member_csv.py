"""CSV rows are validated without a database: every bad row named with its line and reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.member_csv import CsvFormatError, read_rows
from newsletter.models import Frequency

TOPICS = {"assessment", "funding", "itt", "careers", "npq"}


def test_good_rows_are_parsed_and_normalised() -> None:
    rows, errors = read_rows(
        "email,name,role,topics\n Ann@Example.COM ,Ann,SENCO,funding:immediate; npq:Weekly\n",
        TOPICS,
    )
    assert errors == []
    assert rows[0].email == "ann@example.com"
    assert rows[0].topics == {"funding": Frequency.IMMEDIATE, "npq": Frequency.WEEKLY}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("nobody,,,", "invalid email address"),
        ("a@example.com,,,funding", "needs a frequency"),
        ("a@example.com,,,funding:hourly", "unknown frequency 'hourly'"),
        ("a@example.com,,,knitting:daily", "unknown topic 'knitting'"),
        ("a@example.com,,,funding:daily;funding:weekly", "given twice"),
        ("a@example.com,x,y,funding:daily,extra", "too many fields"),
    ],
)
def test_each_bad_row_names_its_problem(line: str, reason: str) -> None:
    rows, errors = read_rows(f"email,name,role,topics\n{line}\n", TOPICS)
    assert rows == []
    assert len(errors) == 1
    assert errors[0].line == 2
    assert reason in errors[0].reason


def test_line_numbers_count_quoted_newlines() -> None:
    text = 'email,name,role,topics\na@example.com,"Ann\nArcher",,\nbad,,,\n'
    _, errors = read_rows(text, TOPICS)
    assert [e.line for e in errors] == [4]


def test_a_file_without_the_header_is_refused() -> None:
    with pytest.raises(CsvFormatError, match="first line must name the columns"):
        read_rows("ann@example.com,Ann,,\n", TOPICS)
    with pytest.raises(CsvFormatError, match="unknown column 'phone'"):
        read_rows("email,phone\n", TOPICS)


@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        rows, errors = read_rows("email,name,role,topics\n" + text, TOPICS)
    except CsvFormatError:
        return
    assert all(row.email for row in rows)
    assert all(error.line >= 2 for error in errors)


def test_a_topic_cell_reads_either_separator_and_either_list_mark() -> None:
    rows, errors = read_rows(
        'email,name,role,topics\na@example.com,,,"funding=daily, npq:weekly;itt = immediate"\n',
        TOPICS,
    )
    assert errors == []
    assert rows[0].topics == {
        "funding": Frequency.DAILY,
        "npq": Frequency.WEEKLY,
        "itt": Frequency.IMMEDIATE,
    }

"""CSV rows are validated without a database: every bad row named with its line and reason."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.member_csv import (
    COLUMNS,
    FORMULA_START,
    CsvFormatError,
    MemberRow,
    Stamp,
    read_cell,
    read_rows,
    safe_cell,
    write_rows,
)
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


# --- the export's columns ------------------------------------------------------------------

AT = datetime(2026, 11, 29, 10, 15, tzinfo=UTC)
FULL_HEADER = ",".join(COLUMNS)


def test_the_associations_four_column_file_is_still_read() -> None:
    rows, errors = read_rows(
        "email,name,role,topics\nann@example.com,Ann,SENCO,funding:daily\n", TOPICS
    )
    assert errors == []
    assert rows[0] == MemberRow(
        line=2, email="ann@example.com", name="Ann", role="SENCO", topics={"funding": "daily"}
    )


def test_a_column_left_out_changes_nothing_but_an_empty_one_clears() -> None:
    rows, _ = read_rows("email,topics\nann@example.com,\n", TOPICS)
    assert rows[0].name is None and rows[0].role is None  # not in the file: left as they are
    assert rows[0].topics == {}  # in the file and empty: no topics


def test_the_export_columns_are_read() -> None:
    line = (
        "ann@example.com,Ann,SENCO,npq:weekly,paused,2027-01-01T00:00:00Z,"
        "one-click 2026-11-29T10:15:00Z,funding mailto 2026-11-29T10:15:00Z; itt manage-page "
        "2026-11-29T10:15:00+01:00,association membership terms,2026-01-05,"
        "hard_bounce 2026-11-29T10:15:00Z,bounced twice"
    )
    rows, errors = read_rows(f"{FULL_HEADER}\n{line}\n", TOPICS)
    assert errors == []
    row = rows[0]
    assert row.status == "paused"
    assert row.paused_until == datetime(2027, 1, 1, tzinfo=UTC)
    assert row.opted_out == Stamp("one-click", AT)
    assert row.opted_out_topics == {
        "funding": Stamp("mailto", AT),
        "itt": Stamp("manage-page", AT - timedelta(hours=1)),
    }
    assert row.consent == "association membership terms"
    assert row.consent_at == datetime(2026, 1, 5, tzinfo=UTC)
    assert row.suppressed == Stamp("hard_bounce", AT)
    assert row.suppression_note == "bounced twice"


@pytest.mark.parametrize(
    ("columns", "line", "reason"),
    [
        ("email,status", "a@example.com,asleep", "unknown status 'asleep'"),
        ("email,status,paused_until", "a@example.com,active,2027-01-01", "needs status paused"),
        ("email,opted_out", "a@example.com,import 2026-11-29", "'import' is not one of"),
        ("email,opted_out", "a@example.com,one-click", "needs a time after 'one-click'"),
        ("email,opted_out", "a@example.com,one-click yesterday", "is not a time like"),
        ("email,opted_out_topics", "a@example.com,knitting one-click 2026-11-29", "unknown topic"),
        ("email,consent_at", "a@example.com,2026-11-29", "consent_at needs a consent"),
        ("email,suppressed", "a@example.com,spam 2026-11-29", "'spam' is not one of"),
        ("email,suppression_note", "a@example.com,why", "needs suppressed"),
        ("email,status", "a@example.com,not-a-member", "for an address on the suppression list"),
        (
            "email,name,status,suppressed",
            "a@example.com,Ann,not-a-member,manual 2026-11-29",
            "carries only the suppression",
        ),
    ],
)
def test_each_bad_export_cell_names_its_problem(columns: str, line: str, reason: str) -> None:
    rows, errors = read_rows(f"{columns}\n{line}\n", TOPICS)
    assert rows == []
    assert len(errors) == 1 and reason in errors[0].reason, errors


# --- formula-safe cells (OWASP CSV injection) ----------------------------------------------


@given(st.text())
def test_a_cell_is_written_safe_and_read_back_unchanged(value: str) -> None:
    cell = safe_cell(value)
    assert not cell.startswith(tuple(FORMULA_START))
    assert read_cell(cell) == value


def test_formulas_are_written_with_a_leading_apostrophe() -> None:
    row = MemberRow(
        line=0,
        email="-ann@example.com",
        name='=HYPERLINK("http://evil.example","click")',
        role="+SENCO",
        topics={},
        consent="@SUM(1)",
        status="active",
    )
    written = next(csv.reader(io.StringIO(write_rows([row]).split("\r\n", 1)[1])))
    assert written[:3] == [
        "'-ann@example.com",
        '\'=HYPERLINK("http://evil.example","click")',
        "'+SENCO",
    ]
    assert written[COLUMNS.index("consent")] == "'@SUM(1)"
    back, errors = read_rows(write_rows([row]), TOPICS)
    assert errors == []
    assert back[0].name == row.name and back[0].role == row.role and back[0].consent == row.consent


TEXT = st.text(alphabet=st.sampled_from("=+-@\t\r\n'\",; aé€Z9"), max_size=12).map(str.strip)
TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
STAMPS = st.builds(
    Stamp, st.sampled_from(["one-click", "manage-page", "mailto", "complaint"]), TIMES
)


@st.composite
def member_rows(draw: st.DrawFn) -> MemberRow:
    status = draw(st.sampled_from(["pending", "active", "paused", "unsubscribed", "bounced"]))
    consent = draw(TEXT)
    return MemberRow(
        line=0,
        email=draw(st.sampled_from(["ann@example.com", "=cmd@example.com", "-x@example.com"])),
        name=draw(TEXT),
        role=draw(TEXT),
        topics=draw(st.dictionaries(st.sampled_from(sorted(TOPICS)), st.sampled_from(Frequency))),
        status=status,
        paused_until=draw(st.none() | TIMES) if status == "paused" else None,
        opted_out=draw(st.none() | STAMPS),
        opted_out_topics=draw(st.dictionaries(st.sampled_from(sorted(TOPICS)), STAMPS)),
        consent=consent,
        consent_at=draw(st.none() | TIMES) if consent else None,
        suppressed=draw(
            st.none() | st.builds(Stamp, st.sampled_from(["manual", "hard_bounce"]), TIMES)
        ),
        suppression_note="",
    )


@settings(max_examples=100, deadline=None)
@given(member_rows())
def test_every_row_written_is_read_back_the_same(row: MemberRow) -> None:
    rows, errors = read_rows(write_rows([row]), TOPICS)
    assert errors == []
    assert replace(rows[0], line=0) == row


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

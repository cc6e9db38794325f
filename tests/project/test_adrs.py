"""Every architecture decision record says which it is, when it was taken and whether it holds."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

ADR_DIR = Path(__file__).resolve().parents[2] / "docs" / "adr"
STATUS = r"(accepted|proposed|superseded by ADR \d{4})"
HEADER = re.compile(rf"^Date: (\d{{4}}-\d{{2}}-\d{{2}})\. Status: {STATUS}\.$")
RECORDS = sorted(ADR_DIR.glob("*.md"))


def test_the_records_are_there() -> None:
    assert len(RECORDS) >= 17


@pytest.mark.parametrize("record", RECORDS, ids=lambda p: p.name)
def test_record_has_number_date_and_status(record: Path) -> None:
    lines = record.read_text(encoding="utf-8").splitlines()
    number = record.name[:4]
    title = f"# ADR {number}: "
    assert lines[0].startswith(title), f"{record.name}: the title must start {title!r}"
    header = HEADER.match(lines[2])
    wanted = "Date: YYYY-MM-DD. Status: accepted."
    assert header, f"{record.name}: the third line must read {wanted!r}, not {lines[2]!r}"
    date.fromisoformat(header.group(1))

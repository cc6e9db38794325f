"""The spool that keeps members' requests while the database is unavailable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from newsletter.spool import Spool


def test_records_come_back_oldest_first_until_done(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "kept")
    assert spool.is_empty()
    first = spool.put({"n": 1})
    spool.put({"n": 2, "text": "é"})

    assert [record for _, record in spool.records()] == [{"n": 1}, {"n": 2, "text": "é"}]
    spool.done(first)
    assert [record["n"] for _, record in spool.records()] == [2]
    assert not spool.is_empty()
    assert not list(spool.folder.glob(".*.tmp"))  # nothing half-written is left about


def test_a_record_survives_the_process_that_wrote_it(tmp_path: Path) -> None:
    folder = tmp_path / "kept"
    write = (
        "from pathlib import Path; from newsletter.spool import Spool; "
        f"Spool(Path({str(folder)!r})).put({{'n': 7}})"
    )
    subprocess.run([sys.executable, "-c", write], check=True)
    assert [record for _, record in Spool(folder).records()] == [{"n": 7}]


def test_an_unreadable_record_is_set_aside_not_lost(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "kept")
    spool.put({"n": 1})
    spool.folder.joinpath("00000000000000000001-bad.json").write_text("{not json")

    assert [record for _, record in spool.records()] == [{"n": 1}]
    assert (spool.folder / "unreadable" / "00000000000000000001-bad.json").exists()


def test_one_drainer_at_a_time(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "kept")
    with spool.draining() as first, Spool(tmp_path / "kept").draining() as second:
        assert first and not second
    with spool.draining() as again:
        assert again


def test_records_of_one_tag(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "kept")
    spool.put({"n": 1}, tag="12")
    spool.put({"n": 2}, tag="7")
    spool.put({"n": 3}, tag="12")

    assert [r["n"] for _, r in spool.records("12")] == [1, 3]
    assert [Spool.tag_of(path) for path, _ in spool.records()] == ["12", "7", "12"]
    assert spool.is_empty("8") and not spool.is_empty("7")

"""`make soak` takes hours: a soak cut off part way goes on from its first unfinished round."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest

from tests.faults import soak
from tests.faults.figures import Figures

SEED = 500


def _fake_round(ran: list[int], stop_at: int | None = None):  # type: ignore[no-untyped-def]
    """Instead of a pytest session: record the round, write one scenario's figures, and be cut
    off (after writing them, as a killed soak would) at round seed `stop_at`."""

    def run_round(seed: int, results: Path, only: str) -> soak.Round:
        ran.append(seed)
        figures = Figures("flaky", 10, 10, 0, 0, 10, 10, seed=str(seed))
        with results.open("a") as lines:
            lines.write(json.dumps(asdict(figures)) + "\n")
        if seed == stop_at:
            raise KeyboardInterrupt
        return soak.Round(seed, 60.0, [], only)

    return run_round


@pytest.fixture
def soak_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(soak, "OUT", tmp_path)
    monkeypatch.setenv("SOAK_SEED", str(SEED))
    monkeypatch.setenv("SOAK_RUNS", "4")
    monkeypatch.delenv("SOAK_ONLY", raising=False)
    return tmp_path


def test_a_soak_cut_off_goes_on_from_its_first_unfinished_round(
    soak_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[int] = []
    monkeypatch.setattr(soak, "run_round", _fake_round(ran, stop_at=SEED + 2))
    with pytest.raises(KeyboardInterrupt):
        soak.main()

    monkeypatch.setattr(soak, "run_round", _fake_round(ran))
    assert soak.main() == 0

    assert ran == [SEED, SEED + 1, SEED + 2, SEED + 2, SEED + 3]
    figures = [json.loads(line) for line in (soak_dir / f"{SEED}.jsonl").read_text().splitlines()]
    assert [f["seed"] for f in figures] == [str(SEED + i) for i in range(4)]
    report = (soak_dir / f"{SEED}.md").read_text()
    assert "4 rounds" in report
    assert "| flaky | 4 | 0 | 0 | 0 | 0 | 0 | 0 | 10 |" in report


def test_a_soak_goes_on_only_with_the_scenarios_it_began_with(
    soak_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(soak, "run_round", _fake_round([], stop_at=SEED + 1))
    with pytest.raises(KeyboardInterrupt):
        soak.main()
    monkeypatch.setenv("SOAK_ONLY", "flaky")

    assert soak.main() == 2
    assert "was run with SOAK_ONLY=''" in capsys.readouterr().err


def test_the_tables_list_the_scenarios_in_their_numbered_order() -> None:
    names = ["10 Redis stalls", "2 flaky SMTP", "3b PostgreSQL restarted", "1 worker killed"]
    names.append("3a Redis restarted")
    figures = [asdict(Figures(name, 10, 10, 0, 0, 10, 10)) for name in names]

    rows = soak.scenario_table(figures)[2:]

    assert [row.split(" | ")[0] for row in rows] == [
        "| 1 worker killed",
        "| 2 flaky SMTP",
        "| 3a Redis restarted",
        "| 3b PostgreSQL restarted",
        "| 10 Redis stalls",
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)")
def test_a_round_cut_off_with_the_full_disk_mounted_is_cleared_for_its_rerun(
    tmp_path: Path,
) -> None:
    disk = tmp_path / "501" / "tmp" / "popen-gw0" / "test_a_full_disk_stops_sending0" / "disk"
    disk.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], check=True)
    (disk / "newsletter.sqlite").write_text("left by a killed round")

    try:
        soak.clear(tmp_path / "501")

        assert not os.path.ismount(disk)
        assert not (tmp_path / "501").exists()
    finally:
        if os.path.ismount(disk):
            subprocess.run(["umount", "-l", str(disk)], check=False)

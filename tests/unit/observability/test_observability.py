"""Pure parts of running it: metrics counted in bulk equal metrics counted one by one, node
names, the metric folders of dead processes, JSON log lines, slow checks, alert addresses."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from newsletter.config import Settings
from newsletter.models import ProcessKind
from newsletter.observability import health, logs, metrics, multiproc
from newsletter.observability.heartbeat import node_name


def test_observe_many_counts_as_observe_does() -> None:
    values = [0.0005, 0.001, 0.003, 0.003, 0.2, 4.0, 31.0, 0.0100001]
    one, many = CollectorRegistry(), CollectorRegistry()
    buckets = metrics.HANDOVER_SECONDS._upper_bounds[:-1]  # type: ignore[attr-defined]
    by_one = Histogram("h", "h", buckets=buckets, registry=one)
    by_many = Histogram("h", "h", buckets=buckets, registry=many)
    for value in values:
        by_one.observe(value)
    metrics.observe_many(by_many, values)
    assert generate_latest(one) == generate_latest(many)


def test_reply_classes() -> None:
    assert [metrics.reply_class(c) for c in (250, 451, 550, None)] == ["2xx", "4xx", "5xx", "none"]


def test_node_names_are_unique_per_process_unless_named() -> None:
    host = os.uname().nodename
    assert node_name(ProcessKind.WORKER) == f"worker@{host}-{os.getpid()}"
    assert node_name(ProcessKind.WORKER, "urgent") == f"urgent@{host}"
    assert node_name(ProcessKind.WORKER, "urgent@box-2") == "urgent@box-2"


def test_metric_folders_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    gone = tmp_path / f"worker-{int(dead.stdout)}"
    alive = tmp_path / f"web-{os.getpid()}"
    for folder in (gone, alive):
        folder.mkdir()
        (folder / "counter_1.db").write_bytes(b"")
    assert multiproc.remove_dead_folders(tmp_path) == [gone]
    assert alive.exists() and not gone.exists()


def test_json_log_lines_carry_the_ids_in_context(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("newsletter.test.json")
    handler = logging.StreamHandler(sys.stdout)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logs.apply_format(Settings(LOG_FORMAT="json"))
        with logs.log_context(send_id=7):
            logger.info("sent %d", 3, extra={"member_id": 12})
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["message"] == "sent 3" and first["level"] == "INFO"
    assert first["logger"] == "newsletter.test.json" and "time" in first
    assert (first["send_id"], first["member_id"]) == (7, 12)
    assert "send_id" not in second


def test_plain_text_stays_the_default() -> None:
    assert Settings().LOG_FORMAT == "text" and logs.uvicorn_config(Settings()) is None


def test_a_check_that_hangs_fails_with_its_name_and_the_others_still_answer() -> None:
    def slow(_: Settings) -> str:
        time.sleep(3)
        return "late"

    results = health.run_checks(Settings(), {"slow": slow, "quick": lambda _: "fine"}, timeout=0.5)
    by_name = {check.name: check for check in results}
    assert not by_name["slow"].ok and "no answer within 0.5 s" in by_name["slow"].detail
    assert by_name["quick"].ok and by_name["quick"].detail == "fine"


def test_alert_emails_read_as_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_ALERT_EMAILS", "ops@example.org, oncall@example.org,")
    assert Settings().ALERT_EMAILS == ["ops@example.org", "oncall@example.org"]

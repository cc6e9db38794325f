"""The alert rules and the Grafana dashboard in docs/monitoring/ speak of metrics the code really
exposes; the rules pass `promtool check rules` and fire on made-up series as they should
(`promtool test rules`) wherever promtool is installed (`make test` installs it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import get_settings
from newsletter.models import ProcessKind
from newsletter.observability import metrics
from newsletter.observability.gauges import StateCollector
from newsletter.observability.heartbeat import Heartbeat
from tests.support.bounce_corpus import CORPUS

ROOT = Path(__file__).resolve().parents[3]
MONITORING = ROOT / "docs" / "monitoring"
RULES_FILE = MONITORING / "prometheus-alerts.yml"
RULES = yaml.safe_load(RULES_FILE.read_text())["groups"][0]["rules"]
DASHBOARD = json.loads((MONITORING / "grafana-dashboard.json").read_text())
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()
METRIC = re.compile(r"\bnewsletter_[a-z_]+")
SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}


def exposed(collectors: list[Any]) -> set[str]:
    names = set()
    for collector in collectors:
        for family in collector.collect():
            for suffix in SUFFIXES.get(family.type, [""]):
                names.add(family.name + suffix)
    return names


@pytest.fixture
def metric_names(db_url: str) -> set[str]:
    """Every sample name a scrape of the web app, a worker or beat can carry."""
    from workers.celery_app import prepare_broker

    settings = get_settings()
    prepare_broker(settings)  # the embedded broker's file, so the queue gauges can be read
    Heartbeat(ProcessKind.BEAT, "beat@test-1", settings).beat()
    return exposed([metrics.process_registry(), StateCollector(settings)])


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in DASHBOARD["panels"] for t in p.get("targets", [])]


def test_rules_and_dashboard_name_only_metrics_that_exist(metric_names: set[str]) -> None:
    for expr in [rule["expr"] for rule in RULES] + dashboard_exprs():
        unknown = set(METRIC.findall(expr)) - metric_names
        assert not unknown, f"{expr} names metrics nothing exposes: {unknown}"
    assert len(dashboard_exprs()) >= 20


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file."""
    headings = re.findall(r"^#+ (.+)$", markdown, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def test_every_alert_has_a_summary_and_a_runbook_in_the_operations_guide() -> None:
    expected = {
        "NewsletterSendStuck",
        "NewsletterOldestPendingTooOld",
        "NewsletterComplaintRateHigh",
        "NewsletterNoWorkerHeartbeat",
        "NewsletterBeatNotTicking",
    }
    assert expected <= {rule["alert"] for rule in RULES}
    for rule in RULES:
        assert rule["annotations"]["summary"]
        page, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert page == "docs/operations.md" and anchor in anchors(OPERATIONS), rule["alert"]


# What each alert must do on made-up series: (series, minutes to run, {alert: fires?}).
CASES: list[tuple[dict[str, str], int, dict[str, bool]]] = [
    ({"newsletter_deliveries_stuck": "0 0 3 3 3 3 3 3"}, 7, {"NewsletterSendStuck": True}),
    ({"newsletter_deliveries_stuck": "0 0 0 0 0 0 0 0"}, 7, {"NewsletterSendStuck": False}),
    (
        {'newsletter_incidents_open{kind="stuck_send"}': "1x10"},
        7,
        {"NewsletterSendStuck": True, "NewsletterDigestNotRun": False},
    ),
    ({"newsletter_oldest_pending_seconds": "0+60x30"}, 25, {"NewsletterOldestPendingTooOld": True}),
    (
        {"newsletter_oldest_pending_seconds": "0+30x30"},
        25,
        {"NewsletterOldestPendingTooOld": False},
    ),
    (  # 1,000 sent and 5 complaints a minute: 0.5%
        {
            'newsletter_emails_total{kind="digest",outcome="sent"}': "0+1000x1500",
            'newsletter_inbound_reports_total{kind="complaint"}': "0+5x1500",
        },
        1440,
        {"NewsletterComplaintRateHigh": True},
    ),
    (  # 0.1%
        {
            'newsletter_emails_total{kind="digest",outcome="sent"}': "0+1000x1500",
            'newsletter_inbound_reports_total{kind="complaint"}': "0+1x1500",
        },
        1440,
        {"NewsletterComplaintRateHigh": False},
    ),
    (
        {
            "newsletter_workers_alive": "1 1 0 0 0 0 0",
            "newsletter_beat_last_tick_timestamp_seconds": "0+60x6",
        },
        6,
        {"NewsletterNoWorkerHeartbeat": True, "NewsletterBeatNotTicking": False},
    ),
    (
        {"newsletter_workers_alive": "1x12", "newsletter_beat_last_tick_timestamp_seconds": "0x12"},
        12,
        {"NewsletterBeatNotTicking": True, "NewsletterNoWorkerHeartbeat": False},
    ),
    ({"newsletter_workers_alive": "1x6"}, 6, {"NewsletterBeatNotTicking": True}),  # never ticked
    (
        {'newsletter_emails_total{kind="alert",outcome="deferred"}': "0+50x40"},
        30,
        {"NewsletterBackendRefusing": True},
    ),
    (
        {
            'newsletter_emails_total{kind="alert",outcome="deferred"}': "0+50x40",
            'newsletter_emails_total{kind="alert",outcome="sent"}': "0+5x40",
        },
        30,
        {"NewsletterBackendRefusing": False},
    ),
]


def promtool_test_file(tmp_path: Path) -> Path:
    rules = {rule["alert"]: rule for rule in RULES}
    tests = []
    for series, minutes, expected in CASES:
        checks = []
        for alert, fires in expected.items():
            rule = rules[alert]
            alerts = [{"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}]
            checks.append(
                {
                    "eval_time": f"{minutes}m",
                    "alertname": alert,
                    "exp_alerts": alerts if fires else [],
                }
            )
        input_series = [{"series": name, "values": values} for name, values in series.items()]
        tests.append({"interval": "1m", "input_series": input_series, "alert_rule_test": checks})
    path = tmp_path / "alerts.test.yml"
    path.write_text(
        yaml.safe_dump(
            {"rule_files": [str(RULES_FILE)], "evaluation_interval": "1m", "tests": tests}
        )
    )
    return path


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian: prometheus) not installed"
)
def test_promtool_checks_the_rules_and_they_fire_as_they_should(tmp_path: Path) -> None:
    checked = subprocess.run(
        ["promtool", "check", "rules", str(RULES_FILE)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        ["promtool", "test", "rules", str(promtool_test_file(tmp_path))],
        capture_output=True,
        text=True,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_incident_emails_point_at_headings_of_the_operations_guide() -> None:
    from newsletter.models import IncidentKind
    from newsletter.staff_alerts import RUNBOOK

    headings = set(re.findall(r"^### (.+)$", OPERATIONS, re.MULTILINE))
    assert set(RUNBOOK) == set(IncidentKind)
    assert set(RUNBOOK.values()) <= headings


def test_what_comes_back_is_counted_by_kind_once(corpus_db: str) -> None:
    def count(kind: str) -> float:
        return REGISTRY.get_sample_value("newsletter_inbound_reports_total", {"kind": kind}) or 0.0

    files = [str(CORPUS / "arf-complaint-yahoo.eml"), str(CORPUS / "postfix-user-unknown.eml")]
    before = {kind: count(kind) for kind in ("complaint", "hard_bounce")}
    for _ in range(2):  # the second time is a replay: nothing new, nothing counted
        result = CliRunner().invoke(app, ["inbound", "process", *files])
        assert result.exit_code == 0, result.output
    assert {kind: count(kind) - before[kind] for kind in before} == {
        "complaint": 1,
        "hard_bounce": 1,
    }

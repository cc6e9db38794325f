"""Run the schemathesis command against a live server and read its JUnit report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
OPERATIONS = 10  # every API operation is exercised in each run


def run_schemathesis(
    base_url: str, tmp_path: Path, *options: str, max_examples: int = 10
) -> ElementTree.Element:
    """Run schemathesis with our extra checks loaded; returns its report once it has passed."""
    report = tmp_path / "junit.xml"
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{base_url}/openapi.json",
            *options,
            "--max-examples",
            str(max_examples),
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--no-color",
            "--report",
            "junit",
            "--report-junit-path",
            str(report),
        ],
        cwd=tmp_path,  # its cache (.schemathesis/) stays out of the working tree
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SCHEMATHESIS_HOOKS": "tests.security.schemathesis_checks",
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    suite = ElementTree.parse(report).getroot()
    assert len(suite.findall(".//testcase")) >= OPERATIONS
    assert not suite.findall(".//failure") and not suite.findall(".//error")
    return suite

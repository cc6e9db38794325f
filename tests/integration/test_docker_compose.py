"""docker-compose.yml cannot run here (no Docker engine), so check it against the code instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from newsletter.config import ENV_PREFIX, Settings
from tests.support.cli_parse import resolve

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
APP_SERVICES = ["migrate", "web", "worker", "beat", "inbound"]


def test_every_expected_service_is_there() -> None:
    assert {"postgres", "redis", "mailpit", *APP_SERVICES} <= set(SERVICES)


@pytest.mark.parametrize("service", APP_SERVICES)
def test_service_commands_match_the_cli(service: str) -> None:
    resolve(SERVICES[service]["command"])


@pytest.mark.parametrize("service", APP_SERVICES)
def test_environment_names_real_settings(service: str) -> None:
    environment = SERVICES[service]["environment"]
    known = {ENV_PREFIX + name for name in Settings.model_fields}
    unknown = [name for name in environment if name not in known]
    assert unknown == [], f"{service} sets variables no setting reads: {unknown}"
    assert environment["NEWSLETTER_BROKER_URL"].startswith("redis://redis:")
    assert environment["NEWSLETTER_DATABASE_URL"].startswith("postgresql://")
    assert environment["NEWSLETTER_SMTP_HOST"] == "mailpit"


def test_production_values_pass_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SERVICES["web"]["environment"].items():
        monkeypatch.setenv(name, str(value).replace("${NEWSLETTER_SECRET_KEY:?", "x" * 40 + "${"))
    Settings()  # raises, naming the variable, if any value is rejected


def test_the_image_installs_the_project() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install" in dockerfile
    for folder in ("newsletter", "workers"):
        assert f"COPY {folder}" in dockerfile


def test_the_checker_rejects_what_the_cli_does_not_know() -> None:
    with pytest.raises(AssertionError, match="does not exist"):
        resolve(["newsletter", "no-such-command"])
    with pytest.raises(Exception, match="--no-such-option"):
        resolve(["newsletter", "db", "upgrade", "--no-such-option"])

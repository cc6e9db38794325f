"""docker-compose.yml cannot run here (no Docker engine), so check it against the code instead."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from newsletter.config import ENV_PREFIX, Settings, load_settings
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


# What an operator sets for the values compose requires (`${NAME:?message}`).
OPERATOR_VALUES = {
    "NEWSLETTER_SECRET_KEY": "x" * 40,
    "NEWSLETTER_FROM_ADDRESS": "School Leaders Network <news@news.school-leaders.org.uk>",
    "NEWSLETTER_BASE_URL": "https://news.school-leaders.org.uk",
}
REQUIRED = re.compile(r"^\$\{(NEWSLETTER_[A-Z_]+):\?[^}]*\}$")


def test_production_values_pass_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = SERVICES["web"]["environment"]
    assert environment["NEWSLETTER_ENVIRONMENT"] == "production"
    for name, value in environment.items():
        required = REQUIRED.match(str(value))
        monkeypatch.setenv(name, OPERATOR_VALUES[required.group(1)] if required else str(value))
    load_settings()  # raises, naming the variable, if any value is refused (production too)


def test_compose_asks_for_what_production_refuses_to_guess() -> None:
    environment = SERVICES["web"]["environment"]
    for name in OPERATOR_VALUES:
        assert REQUIRED.match(str(environment[name])), f"{name} must be required from the operator"


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

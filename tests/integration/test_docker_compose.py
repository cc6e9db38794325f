"""docker-compose.yml cannot run here (no Docker engine), so check it against the code instead."""

from __future__ import annotations

import re
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


def interpolated(value: str) -> str:
    """The value as docker compose passes it with nothing set: `${NAME:-default}` is its
    default; the secret key, which must be set, is a long one."""
    value = value.replace("${NEWSLETTER_SECRET_KEY:?", "x" * 40 + "${")
    return re.sub(r"\$\{\w+:-([^}]*)\}|\$\{[^}]*\}", lambda m: m[1] or "", value)


def test_production_values_pass_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SERVICES["web"]["environment"].items():
        monkeypatch.setenv(name, interpolated(str(value)))
    settings = Settings()  # raises, naming the variable, if any value is rejected
    assert settings.DKIM_PRIVATE_KEY_PATH is None and settings.DKIM_SELECTOR is None


def test_the_dkim_and_footer_settings_are_documented_in_compose() -> None:
    environment = SERVICES["web"]["environment"]
    for name in ("DKIM_PRIVATE_KEY_PATH", "DKIM_SELECTOR", "POSTAL_ADDRESS", "REPLY_TO"):
        assert ENV_PREFIX + name in environment, name


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

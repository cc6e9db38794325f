"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine), so check them
against the code instead: commands parse with the real CLI, variables are real settings, the
long-running services have healthchecks, and localhost addresses live only in the development
profile."""

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
LONG_RUNNING = ["web", "worker", "beat", "inbound"]
DEVELOPMENT_ENV = ROOT / "compose.development.env"
# What an operator sets for production (docker-compose.yml's header lists them).
PRODUCTION_ENV = {
    "POSTGRES_PASSWORD": "a-long-database-password",
    "NEWSLETTER_SECRET_KEY": "x" * 48,
    "NEWSLETTER_FROM_ADDRESS": "School Leaders Network <news@news.school-leaders.org.uk>",
    "NEWSLETTER_BASE_URL": "https://news.school-leaders.org.uk",
    "NEWSLETTER_SMTP_HOST": "smtp.school-leaders.org.uk",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error} against `env`."""

    def one(match: re.Match[str]) -> str:
        name, how, rest = match.groups()
        if env.get(name):
            return env[name]
        if how == "?":
            raise LookupError(f"{name}: {rest}")
        return rest or ""

    return _VARIABLE.sub(one, value)


def read_env_file(path: Path) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in path.read_text().splitlines()]
    return {name.strip(): value for name, value in (p for p in pairs if len(p) == 2)}


def test_every_expected_service_is_there() -> None:
    assert {"postgres", "redis", "mailpit", *APP_SERVICES} <= set(SERVICES)


@pytest.mark.parametrize("service", APP_SERVICES)
def test_service_commands_match_the_cli(service: str) -> None:
    resolve(SERVICES[service]["command"])


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_long_running_services_have_a_healthcheck_the_cli_knows(service: str) -> None:
    check = SERVICES[service]["healthcheck"]["test"]
    assert check[0] == "CMD"
    resolve(check[1:])
    assert check[1:4] == ["newsletter", "health", service]


@pytest.mark.parametrize("service", APP_SERVICES)
def test_environment_names_real_settings(service: str) -> None:
    environment = SERVICES[service]["environment"]
    known = {ENV_PREFIX + name for name in Settings.model_fields}
    unknown = [name for name in environment if name not in known]
    assert unknown == [], f"{service} sets variables no setting reads: {unknown}"
    assert environment["NEWSLETTER_BROKER_URL"].startswith("redis://redis:")
    assert environment["NEWSLETTER_DATABASE_URL"].startswith("postgresql://")


def test_no_localhost_or_plain_http_outside_the_development_profile() -> None:
    for name, service in SERVICES.items():
        if "development" in service.get("profiles", []):
            continue
        text = yaml.safe_dump(service)
        assert "localhost" not in text, f"{name} names localhost outside the development profile"
        assert "http://" not in text.replace("http://127.0.0.1:8000/healthz", ""), name
    assert SERVICES["mailpit"]["profiles"] == ["development"]


def test_production_values_pass_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = SERVICES["web"]["environment"]
    assert environment["NEWSLETTER_ENVIRONMENT"].endswith("production}")
    for name, value in environment.items():
        monkeypatch.setenv(name, interpolate(str(value), PRODUCTION_ENV))
    settings = load_settings()  # raises, naming the variable, if any value is refused
    assert settings.ENVIRONMENT == "production"
    assert settings.BASE_URL.startswith("https://")
    missing = {**PRODUCTION_ENV, "NEWSLETTER_FROM_ADDRESS": ""}
    with pytest.raises(LookupError, match="NEWSLETTER_FROM_ADDRESS"):
        interpolate(environment["NEWSLETTER_FROM_ADDRESS"], missing)


def test_the_development_profile_runs_with_its_env_file(monkeypatch: pytest.MonkeyPatch) -> None:
    values = read_env_file(DEVELOPMENT_ENV)
    for name, value in SERVICES["web"]["environment"].items():
        monkeypatch.setenv(name, interpolate(str(value), values))
    settings = load_settings()
    assert settings.SMTP_HOST == "mailpit" and "localhost" in settings.FROM_ADDRESS
    assert settings.DKIM_PRIVATE_KEY_PATH is None and settings.DKIM_SELECTOR is None


def test_compose_asks_for_what_production_refuses_to_guess() -> None:
    environment = SERVICES["web"]["environment"]
    for name in ("NEWSLETTER_SECRET_KEY", "NEWSLETTER_FROM_ADDRESS", "NEWSLETTER_BASE_URL"):
        with pytest.raises(LookupError, match=name):
            interpolate(str(environment[name]), {})


def test_the_dkim_and_footer_settings_are_documented_in_compose() -> None:
    environment = SERVICES["web"]["environment"]
    for name in ("DKIM_PRIVATE_KEY_PATH", "DKIM_SELECTOR", "POSTAL_ADDRESS", "REPLY_TO"):
        assert ENV_PREFIX + name in environment, name


def test_the_image_is_built_from_the_wheel_and_runs_unprivileged() -> None:
    build, final = (ROOT / "Dockerfile").read_text().split("\nFROM ")[-2:]
    assert "pip wheel" in build and "COPY newsletter" in build
    assert "--no-index --find-links /wheels newsletter" in final
    assert "COPY newsletter" not in final and "pip install -e" not in final
    users = re.findall(r"^USER (\S+)", final, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")


def test_the_checker_rejects_what_the_cli_does_not_know() -> None:
    with pytest.raises(AssertionError, match="does not exist"):
        resolve(["newsletter", "no-such-command"])
    with pytest.raises(Exception, match="--no-such-option"):
        resolve(["newsletter", "db", "upgrade", "--no-such-option"])

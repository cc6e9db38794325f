"""Settings: defaults, a wrong value named at start-up, the secret key rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.config import BUILTIN_BACKENDS, ConfigError, is_placeholder_host, load_settings
from newsletter.delivery.backends import BUILTIN


def test_defaults_need_no_environment() -> None:
    settings = load_settings()
    assert settings.BROKER_URL == "embedded"
    assert settings.TIMEZONE == "Europe/London"
    assert settings.EMAIL_BACKEND == "smtp"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NEWSLETTER_SMTP_PORT", "70000"),
        ("NEWSLETTER_TIMEZONE", "Europe/Atlantis"),
        ("NEWSLETTER_DATABASE_URL", "mysql://x"),
        ("NEWSLETTER_BROKER_URL", "amqp://x"),
        ("NEWSLETTER_SMTP_STARTTLS", "perhaps"),
        ("NEWSLETTER_BASE_URL", "example.org"),
    ],
)
def test_a_wrong_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_development_generates_and_keeps_a_secret_key(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NEWSLETTER_VAR_DIR", str(tmp_path))
    first = load_settings().secret_key
    assert len(first) >= 40
    assert load_settings().secret_key == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_production_refuses_to_start_without_a_secret_key(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NEWSLETTER_ENVIRONMENT", "production")
    with pytest.raises(ConfigError, match="NEWSLETTER_SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "s" * 48)
    monkeypatch.setenv("NEWSLETTER_BASE_URL", "https://news.school-leaders.org.uk")
    monkeypatch.setenv("NEWSLETTER_FROM_ADDRESS", "News <news@school-leaders.org.uk>")
    assert load_settings().secret_key == "s" * 48


@pytest.mark.parametrize(
    ("host", "placeholder"),
    [
        ("localhost", True),
        ("app.localhost", True),
        ("127.0.0.1", True),
        ("[::1]", True),
        ("0.0.0.0", True),
        ("example.org", True),
        ("news.example.com", True),
        ("school.test", True),
        ("", True),
        ("news.school-leaders.org.uk", False),
        ("example.org.uk", False),
        ("notexample.com", False),
        ("203.0.113.9", False),
    ],
)
def test_placeholder_hosts(host: str, placeholder: bool) -> None:
    assert is_placeholder_host(host) is placeholder


def test_settings_know_the_built_in_backends_by_name() -> None:
    assert set(BUILTIN_BACKENDS) == set(BUILTIN)


def test_a_send_window_that_ends_before_it_starts_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSLETTER_SEND_WINDOW_START", "19:00")
    monkeypatch.setenv("NEWSLETTER_SEND_WINDOW_END", "07:00")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value) == (
        "invalid setting: NEWSLETTER_SEND_WINDOW_END: "
        "the send window ends (07:00) before it starts (19:00)"
    )

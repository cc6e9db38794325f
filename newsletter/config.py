"""One Settings object for the whole service, read from NEWSLETTER_* environment variables."""

from __future__ import annotations

import ipaddress
import secrets
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "NEWSLETTER_"
EMBEDDED_BROKER = "embedded"
# The built-in backends' names, so that checking the setting does not import them at every
# command's start; tests/unit/test_config.py keeps them equal to the backends' table.
BUILTIN_BACKENDS = ("smtp", "console", "file", "memory")


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    ENVIRONMENT: Literal["development", "production"] = "development"
    VAR_DIR: Path = Path("var")
    DATABASE_URL: str = "sqlite:///var/newsletter.db"
    BROKER_URL: str = EMBEDDED_BROKER
    REDIS_URL: str | None = None
    EMAIL_BACKEND: str = "smtp"
    EMAIL_FILE_DIR: Path = Path("var/outbox")
    SMTP_HOST: str = "127.0.0.1"
    SMTP_PORT: int = Field(default=1025, ge=1, le=65535)
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_STARTTLS: bool = False
    SMTP_SSL: bool = False
    SMTP_TIMEOUT: float = Field(default=30.0, gt=0)
    FROM_ADDRESS: str = "School Leaders Network <news@localhost>"
    REPLY_TO: str | None = None  # where members' replies go, when not to FROM_ADDRESS
    POSTAL_ADDRESS: str = ""  # the organisation's postal address, in every email's footer
    BASE_URL: str = "http://localhost:8000"
    SECRET_KEY: str | None = None
    DKIM_PRIVATE_KEY_PATH: Path | None = None
    DKIM_SELECTOR: str | None = None
    TIMEZONE: str = "Europe/London"
    BREAKING_WINDOW_DAYS: int = Field(default=42, ge=0)
    RATE_LIMIT_PER_SECOND: float = Field(default=0, ge=0)
    MAX_SMTP_CONNECTIONS: int = Field(default=4, ge=1)
    SMTP_CONNECTIONS_PER_PROCESS: int = Field(default=2, ge=1, le=16)
    BATCH_SIZE: int = Field(default=250, ge=1, le=5000)
    # A fan-out (digest run, alert) commits and queues its rows this many members at a time.
    FANOUT_CHUNK: int = Field(default=1000, ge=1, le=100_000)
    # Delivery engine: when digests and reminders go (in TIMEZONE), retries and recovery.
    DIGEST_HOUR: int = Field(default=7, ge=0, le=23)
    WEEKLY_DIGEST_WEEKDAY: int = Field(default=0, ge=0, le=6)  # 0 = Monday
    # Non-urgent email goes on these days (0 = Monday) between these local times (ADR 0021);
    # off: it goes at any hour.
    SEND_WINDOW_ENABLED: bool = True
    SEND_WINDOW_DAYS: list[int] = Field(default=[0, 1, 2, 3, 4])  # env: '[0,1,2,3,4]'
    SEND_WINDOW_START: str = Field(default="07:00", pattern=r"^\d{1,2}:\d{2}$")
    SEND_WINDOW_END: str = Field(default="19:00", pattern=r"^\d{1,2}:\d{2}$")
    REMINDER_DAYS: list[int] = Field(default=[7, 1])  # env: NEWSLETTER_REMINDER_DAYS='[7,1]'
    REMINDER_HOUR: int = Field(default=8, ge=0, le=23)
    SCHEDULE_GRACE_MINUTES: int = Field(default=30, ge=0)
    SCHEDULE_CHECK_SECONDS: float = Field(default=30.0, gt=0)
    # Urgent notices members acknowledge: the defaults of a notice's chases, and how long the
    # "I've read this" link in its emails works.
    ACK_CHASE_DAYS: int = Field(default=3, ge=1)
    ACK_CHASE_TIMES: int = Field(default=2, ge=0)
    ACK_LINK_DAYS: int = Field(default=60, ge=1)
    RETRY_MAX_ATTEMPTS: int = Field(default=5, ge=1)
    RETRY_BASE_SECONDS: float = Field(default=240.0, ge=0)  # 4+8+16+32 min: about an hour
    RETRY_JITTER: float = Field(default=0.2, ge=0, le=1)
    SENDING_TIMEOUT_SECONDS: int = Field(default=900, ge=1)
    REQUEUE_PENDING_AFTER_SECONDS: int = Field(default=3600, ge=1)
    # A fan-out that has committed no chunk for this long has stopped: the sweep resumes it.
    FANOUT_STALLED_SECONDS: int = Field(default=120, ge=1)
    BROKER_VISIBILITY_TIMEOUT: int = Field(default=6 * 3600, ge=60)
    # Running it: logs, metrics, liveness, and who is told when something is wrong.
    LOG_FORMAT: Literal["text", "json"] = "text"
    METRICS_PORT: int = Field(default=0, ge=0, le=65535)  # worker's and beat's; 0 = none
    METRICS_DIR: Path | None = None  # prefork pools' metric files; default VAR_DIR/metrics
    HEARTBEAT_SECONDS: float = Field(default=15.0, gt=0)
    WATCH_SECONDS: float = Field(default=60.0, gt=0)
    ALERT_EMAILS: Annotated[list[str], NoDecode] = Field(default=[])  # comma-separated
    # The return path (newsletter/inbound/): VERP envelope senders, the mailto unsubscribe
    # address, and what comes back to them. Unset addresses are derived from FROM_ADDRESS.
    BOUNCE_LOCALPART: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,40}$")
    BOUNCE_DOMAIN: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]{1,200}$")
    UNSUBSCRIBE_LOCALPART: str = Field(default="unsubscribe", pattern=r"^[A-Za-z0-9._-]{1,40}$")
    INBOUND_HOST: str = "127.0.0.1"
    INBOUND_PORT: int = Field(default=2525, ge=1, le=65535)
    INBOUND_MAX_MESSAGE_BYTES: int = Field(default=10_000_000, ge=10_000)
    INBOUND_MESSAGES_PER_MINUTE: int = Field(default=120, ge=1)  # per client address
    IMAP_HOST: str | None = None  # set it, and beat polls the mailbox every IMAP_POLL_MINUTES
    IMAP_PORT: int | None = Field(default=None, ge=1, le=65535)  # 993 (TLS) or 143 (STARTTLS)
    IMAP_SECURITY: Literal["tls", "starttls"] = "tls"
    IMAP_USER: str | None = None
    IMAP_PASSWORD: str | None = None
    IMAP_PASSWORD_FILE: Path | None = None
    IMAP_FOLDER: str = "INBOX"
    IMAP_CA_FILE: Path | None = None  # trust this CA too (a private mail server's)
    IMAP_POLL_MINUTES: float = Field(default=5.0, gt=0)
    SOFT_BOUNCE_LIMIT: int = Field(default=5, ge=1)
    SOFT_BOUNCE_DAYS: int = Field(default=14, ge=1)
    SES_TOPIC_ARNS: list[str] = Field(default=[])  # env: '["arn:aws:sns:..."]'; empty: off
    SNS_CERT_URL_PATTERN: str = r"^https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[^?#]+\.pem$"
    MAILGUN_SIGNING_KEY: str | None = None  # unset: the Mailgun webhook is off

    @field_validator("REPLY_TO", "DKIM_PRIVATE_KEY_PATH", "DKIM_SELECTOR", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # docker-compose passes `${NAME:-}` as an empty string: that means "not set".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return value

    @field_validator("BROKER_URL")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        if value != EMBEDDED_BROKER and not value.startswith(
            ("redis://", "rediss://", "memory://")
        ):
            raise ValueError(f"must be '{EMBEDDED_BROKER}' or a redis:// URL")
        return value

    @field_validator("ALERT_EMAILS", mode="before")
    @classmethod
    def _alert_emails(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("EMAIL_BACKEND")
    @classmethod
    def _email_backend(cls, value: str) -> str:
        if value in BUILTIN_BACKENDS:
            return value
        # Only a name that is not built in costs a look at the installed plugins.
        from newsletter.delivery.backends import UnknownBackend, check_backend_name

        try:
            check_backend_name(value)
        except UnknownBackend as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("TIMEZONE")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("SEND_WINDOW_DAYS")
    @classmethod
    def _send_window_days(cls, value: list[int]) -> list[int]:
        from newsletter.send_window_settings import check_days

        check_days(set(value))
        return value

    @field_validator("SEND_WINDOW_END")
    @classmethod
    def _send_window_end(cls, value: str, info: ValidationInfo) -> str:
        from newsletter.send_window_settings import check_window, parse_clock

        start = info.data.get("SEND_WINDOW_START")
        if start is not None:
            check_window(parse_clock(start), parse_clock(value))
        return value

    @field_validator("BASE_URL")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def is_production(self) -> bool:
        return self.ENVIRONMENT == "production"

    @property
    def embedded_broker_path(self) -> Path:
        """The embedded broker's SQLite file (ADR 0004)."""
        return (self.VAR_DIR / "broker.sqlite").resolve()

    @property
    def metrics_dir(self) -> Path:
        return self.METRICS_DIR or self.VAR_DIR / "metrics"

    @property
    def secret_key(self) -> str:
        """The signing key; in development one is generated into VAR_DIR once and kept."""
        if self.SECRET_KEY:
            return self.SECRET_KEY
        if self.ENVIRONMENT == "production":
            raise ConfigError(f"{ENV_PREFIX}SECRET_KEY must be set in production")
        path = self.VAR_DIR / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        name = ENV_PREFIX + ".".join(str(part) for part in item["loc"])
        lines.append(f"{name}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


def load_settings() -> Settings:
    """Read the environment, turning validation errors into one message naming each variable."""
    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigError(f"invalid setting: {_describe(exc)}") from None
    if settings.ENVIRONMENT == "production":
        problem = production_problem(settings)
        if problem:
            raise ConfigError(problem)
    return settings


MIN_PRODUCTION_SECRET = 32
# Names that are never a real service's (RFC 2606 and 6761): a production setting naming one
# is a development default left in place, and every link or From address would be wrong.
PLACEHOLDER_DOMAINS = ("localhost", "example.com", "example.org", "example.net")
PLACEHOLDER_TLDS = ("localhost", "example", "test", "invalid", "local")


def production_problem(settings: Settings) -> str | None:
    """Why these settings must not run in production (one line naming the variable), or None."""
    key = settings.SECRET_KEY or ""
    if not key:
        return f"{ENV_PREFIX}SECRET_KEY must be set in production"
    if len(key) < MIN_PRODUCTION_SECRET:
        return (
            f"{ENV_PREFIX}SECRET_KEY must be at least {MIN_PRODUCTION_SECRET} characters in "
            f"production (it has {len(key)}); use e.g. `python -c 'import secrets; "
            f"print(secrets.token_urlsafe(48))'`"
        )
    if not settings.BASE_URL.startswith("https://"):
        return (
            f"{ENV_PREFIX}BASE_URL must be an https:// address in production "
            f"(it is {settings.BASE_URL}): links in emails and the sign-in cookie need TLS"
        )
    host = urlsplit(settings.BASE_URL).hostname or ""
    if is_placeholder_host(host):
        return (
            f"{ENV_PREFIX}BASE_URL names {host}, a local or example address; "
            "set it to the service's public address"
        )
    sender_domain = parseaddr(settings.FROM_ADDRESS)[1].rpartition("@")[2]
    if is_placeholder_host(sender_domain):
        return (
            f"{ENV_PREFIX}FROM_ADDRESS is at {sender_domain or 'no domain'}, a local or example "
            "domain; set it to the address your emails come from"
        )
    return None


def is_placeholder_host(host: str) -> bool:
    """localhost, a loopback address, or an example or test domain (or one under it)."""
    host = host.lower().rstrip(".").strip("[]")
    if not host:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        pass
    if host in PLACEHOLDER_DOMAINS or host.rsplit(".", 1)[-1] in PLACEHOLDER_TLDS:
        return True
    return any(host.endswith("." + domain) for domain in PLACEHOLDER_DOMAINS)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()

"""What an entry point checks before it starts work: the database, the broker, email settings.

`newsletter serve`, `worker`, `beat` and every command that queues email call these first, so a
wrong setting is one line naming the variable and the fix, not a traceback (or, worse, a worker
that starts and then cannot do anything). The values themselves are checked when the settings
are read (`config.load_settings`); these check what they point at.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from newsletter.config import EMBEDDED_BROKER, ENV_PREFIX, Settings
from newsletter.db import DatabaseUnavailable, NotMigrated, ensure_migrated

REDIS_TIMEOUT_SECONDS = 3.0
SMTP_PROBE_SECONDS = 3.0


class StartupError(Exception):
    """Something a setting points at cannot be used; the message names the setting and the fix."""


def check_database(settings: Settings) -> None:
    """The database answers and is at the code's migration."""
    try:
        ensure_migrated(settings.DATABASE_URL)
    except (NotMigrated, DatabaseUnavailable) as exc:
        raise StartupError(str(exc)) from None


def check_broker(settings: Settings) -> None:
    """Work can be queued: the embedded broker's folder can be written, or Redis answers."""
    if settings.BROKER_URL == EMBEDDED_BROKER:
        check_writable_folder(settings.VAR_DIR, "VAR_DIR", "the embedded broker's queue")
    elif settings.BROKER_URL.startswith(("redis://", "rediss://")):
        check_redis(
            settings.BROKER_URL,
            "BROKER_URL",
            f"or set {ENV_PREFIX}BROKER_URL=embedded to run on one machine without Redis",
        )
    if settings.REDIS_URL:
        check_redis(
            settings.REDIS_URL,
            "REDIS_URL",
            f"or unset {ENV_PREFIX}REDIS_URL to keep rate limits in each process",
        )


def check_email(settings: Settings) -> None:
    """Email can be built as configured: a usable From address, and a DKIM key that can be
    read and parsed when signing is on (else every batch would fail on it, one by one)."""
    from newsletter.config import ConfigError
    from newsletter.rendering.headers import parse_sender
    from newsletter.rendering.signing import load_signer

    try:
        load_signer(settings, parse_sender(settings.FROM_ADDRESS).domain)
    except ConfigError as exc:
        raise StartupError(str(exc)) from None


def smtp_problem(settings: Settings) -> str | None:
    """Why the SMTP server, when that is the backend, does not take connections from here;
    None when it does (or another backend is configured). Only a warning: workers may run
    elsewhere, and a server that is down now may be up when they send."""
    if settings.EMAIL_BACKEND != "smtp":
        return None
    try:
        with socket.create_connection(
            (settings.SMTP_HOST, settings.SMTP_PORT), timeout=SMTP_PROBE_SECONDS
        ):
            return None
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        return (
            f"the SMTP server at {settings.SMTP_HOST}:{settings.SMTP_PORT} "
            f"({ENV_PREFIX}SMTP_HOST, {ENV_PREFIX}SMTP_PORT) does not answer: {reason}"
        )


def check_writable_folder(folder: Path, setting: str, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK)
        reason = "" if writable else "this user cannot write there"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    if reason:
        raise StartupError(
            f"{ENV_PREFIX}{setting}: cannot keep {what} in {folder}: {reason}; "
            f"set {ENV_PREFIX}{setting} to a folder this user can write"
        )


def check_redis(url: str, setting: str, alternative: str) -> None:
    import redis

    shown = redacted(url)
    try:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
    except ValueError as exc:
        raise StartupError(f"{ENV_PREFIX}{setting}: {shown} is not a Redis URL: {exc}") from None
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        reason = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__
        raise StartupError(
            f"{ENV_PREFIX}{setting}: cannot reach Redis at {shown}: {reason}; "
            f"start Redis there, {alternative}"
        ) from None
    finally:
        client.close()


def redacted(url: str) -> str:
    """The URL without its password, to be shown in a message."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=f"{user}{host}{port}"))

"""Email backends: the built-in ones and any installed under the `newsletter.email_backends`
entry-point group (a callable taking Settings and returning a Backend)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib.metadata import entry_points

from newsletter.config import Settings, get_settings
from newsletter.delivery.backends.base import (
    Backend,
    BackendUnavailable,
    Connection,
    Outcome,
    SendResult,
    UnknownBackend,
)
from newsletter.delivery.backends.console import ConsoleBackend
from newsletter.delivery.backends.file import FileBackend
from newsletter.delivery.backends.memory import MemoryBackend
from newsletter.delivery.backends.smtp import SmtpBackend

ENTRY_POINT_GROUP = "newsletter.email_backends"

BUILTIN: dict[str, Callable[[Settings], Backend]] = {
    "smtp": SmtpBackend,
    "console": ConsoleBackend,
    "file": FileBackend,
    "memory": MemoryBackend,
}

__all__ = [
    "Backend",
    "BackendUnavailable",
    "Connection",
    "ENTRY_POINT_GROUP",
    "Outcome",
    "SendResult",
    "UnknownBackend",
    "get_backend",
]


def get_backend(name: str | None = None, settings: Settings | None = None) -> Backend:
    """The backend called `name` (default: settings.EMAIL_BACKEND), built from the settings."""
    settings = settings or get_settings()
    name = name or settings.EMAIL_BACKEND
    if name in BUILTIN:
        return BUILTIN[name](settings)
    plugins = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if name in plugins:
        factory: Callable[[Settings], Backend] = plugins[name].load()
        return factory(settings)
    raise UnknownBackend(unknown_backend_message(name, plugins))


def check_backend_name(name: str) -> None:
    """Raise UnknownBackend unless `name` is built in or installed (Settings checks this)."""
    if name in BUILTIN:
        return
    plugins = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if name not in plugins:
        raise UnknownBackend(unknown_backend_message(name, plugins))


def unknown_backend_message(name: str, plugins: Iterable[str]) -> str:
    choices = ", ".join([*BUILTIN, *sorted(set(plugins) - set(BUILTIN))])
    return f"unknown email backend {name!r}; choose one of: {choices}"

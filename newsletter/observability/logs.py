"""Log lines as people read them (the default), or as machines do: NEWSLETTER_LOG_FORMAT=json
gives one JSON object a line with time, level, logger and message, plus send_id, delivery_id
and member_id where the code knows them (log_context, or `extra=` on the call), for workers,
beat and the web app alike."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from newsletter.config import Settings

_context: ContextVar[dict[str, Any] | None] = ContextVar("newsletter_log_context", default=None)


@contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """Every line logged inside carries these ids (send_id=..., member_id=...)."""
    token = _context.set({**(_context.get() or {}), **ids})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Puts the ids of log_context on each record (a call's own `extra=` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_context.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "{levelname}{name}{message}",
        style="{",
        timestamp="time",
        rename_fields={"levelname": "level", "name": "logger"},
        json_ensure_ascii=False,
    )


def configure_root(settings: Settings) -> None:
    """For a worker or beat in JSON mode: the root logger writes JSON to stderr before Celery
    starts (Celery then keeps it), and Python's warnings go through it too."""
    if settings.LOG_FORMAT != "json":
        return
    handler = logging.StreamHandler()
    handler.setFormatter(json_formatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)


def apply_format(settings: Settings) -> None:
    """Give every handler of every logger the configured format: Celery sets up its own
    (root, tasks, the pool's) with its plain format, and then says so with a signal."""
    if settings.LOG_FORMAT != "json":
        return
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            handler.setFormatter(json_formatter())
            if not any(isinstance(f, ContextFilter) for f in handler.filters):
                handler.addFilter(ContextFilter())


def uvicorn_config(settings: Settings) -> dict[str, Any] | None:
    """uvicorn's log_config for the web app: None keeps uvicorn's own (plain text)."""
    if settings.LOG_FORMAT != "json":
        return None
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "filters": ["context"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": json_formatter}},
        "filters": {"context": {"()": ContextFilter}},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": "INFO"},
        "loggers": {
            "uvicorn": {"level": "INFO"},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"level": "INFO"},
        },
    }

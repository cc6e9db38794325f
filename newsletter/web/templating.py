"""The Jinja2 environment for the web pages, and the one function routes use to render them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from newsletter.config import get_settings

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates" / "web"
STATIC_DIR = Path(__file__).resolve().parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
# The templates are package files, changed only by an upgrade (which restarts the app): checking
# each one's modification time on every page was 3% of a staff page's CPU (bench/web_profile.py).
templates.env.auto_reload = False


def local_time(value: datetime | None, fmt: str = "%a %d %b %Y, %H:%M") -> str:
    """A UTC datetime as the association's clock shows it (Europe/London by default)."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(get_settings().TIMEZONE)).strftime(fmt)


def local_time_of(iso: str | None, fmt: str = "%d %b %Y, %H:%M") -> str:
    """local_time for a datetime written as ISO 8601 text (as the progress summaries hold)."""
    return local_time(datetime.fromisoformat(iso), fmt) if iso else ""


templates.env.filters["local_time"] = local_time
templates.env.filters["local_time_of"] = local_time_of


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    context = dict(context or {})
    context.setdefault("staff", getattr(request.state, "staff", None))
    if request.url.path.startswith("/staff"):
        from newsletter.web.auth import csrf_token

        context.setdefault("csrf_token", csrf_token(request))
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=headers
    )

"""The Jinja environment for email templates, and errors that name the template and line.

Each email KIND is three templates in newsletter/templates/email/: KIND.subject.j2, KIND.txt.j2 and
KIND.html.j2 (the HTML ones autoescaped). Undefined names are errors, not blanks, so that a
mistake in a template stops the send at prepare time instead of mailing a hole to everyone.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from newsletter.rendering import formatting

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates" / "email"


class TemplateError(Exception):
    """A template could not be rendered; the message names the template and the line."""


@dataclass(frozen=True)
class RenderedParts:
    subject: str
    text: str
    html: str


def _autoescape(name: str | None) -> bool:
    return bool(name) and str(name).endswith(".html.j2")


class EmailTemplates:
    def __init__(self, directory: Path = TEMPLATE_DIR, *more: Path) -> None:
        self.directory = directory
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([directory, *more]),
            autoescape=_autoescape,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters.update(
            frequency_phrase=formatting.frequency_phrase,
            join_and=formatting.join_and,
            plural=formatting.plural,
            wrap=formatting.wrap,
            wrap_items=formatting.wrap_items,
            bracketed="[{}]".format,
        )

    def render(self, name: str, context: dict[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(context)
        except jinja2.TemplateSyntaxError as exc:
            where = exc.name or name
            raise TemplateError(f"{where}, line {exc.lineno}: {exc.message}") from exc
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"template {exc.name} not found in {self.directory}") from exc
        except Exception as exc:
            raise TemplateError(f"{_where(exc, name)}: {type(exc).__name__}: {exc}") from exc

    def render_email(self, kind: str, context: dict[str, Any]) -> RenderedParts:
        """The subject (one line), then the text and HTML parts, which may show the subject."""
        subject = formatting.clean(self.render(f"{kind}.subject.j2", context))
        context = {**context, "subject": subject}
        return RenderedParts(
            subject=subject,
            text=self.render(f"{kind}.txt.j2", context),
            html=self.render(f"{kind}.html.j2", context),
        )


def _where(exc: BaseException, name: str) -> str:
    """The template and line a runtime error came from (Jinja maps its frames to templates)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
    if not frames:
        return name
    return f"{Path(frames[-1].filename).name}, line {frames[-1].lineno}"


@lru_cache(maxsize=1)
def default_templates() -> EmailTemplates:
    """The email templates."""
    return EmailTemplates(TEMPLATE_DIR)

"""`newsletter health web|worker|beat|inbound`: a liveness check for container healthchecks."""

from __future__ import annotations

import enum
import smtplib
import urllib.error
import urllib.request

import typer

from newsletter.cli.common import console, fail
from newsletter.config import get_settings
from newsletter.models import ProcessKind


class Part(enum.StrEnum):
    WEB = "web"
    WORKER = "worker"
    BEAT = "beat"
    INBOUND = "inbound"


def health(
    part: Part = typer.Argument(..., help="What to check: web, worker, beat or inbound."),
    url: str = typer.Option(
        "http://127.0.0.1:8000/healthz", "--url", help="web: the address to ask."
    ),
    name: str | None = typer.Option(
        None, "--name", help="worker: this worker only (its node name, or NAME for NAME@HOST)."
    ),
    port: int | None = typer.Option(
        None, "--port", help="inbound: its port on 127.0.0.1 (default NEWSLETTER_INBOUND_PORT)."
    ),
) -> None:
    """Exit 0 if this machine's web app, worker, beat or inbound server is alive, else 1."""
    if part == Part.WEB:
        ok, detail = _web(url)
    elif part == Part.INBOUND:
        ok, detail = _inbound(port or get_settings().INBOUND_PORT)
    else:
        from newsletter.observability.heartbeat import liveness

        ok, detail = liveness(get_settings(), ProcessKind(part.value), name)
    if not ok:
        fail(f"{part.value}: {detail}")
    console.print(f"{part.value}: {detail}", highlight=False)


def _web(url: str) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (an operator's URL)
            return True, f"{url} answered {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url} answered {exc.code}"
    except OSError as exc:
        return False, f"{url}: {exc}"


def _inbound(port: int) -> tuple[bool, str]:
    """The inbound SMTP server greets and answers NOOP."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
            code, _ = client.noop()
    except (OSError, smtplib.SMTPException) as exc:
        return False, f"127.0.0.1:{port}: {exc}"
    return code == 250, f"127.0.0.1:{port} answered {code}"

"""`newsletter inbound ...`: the return path. Bounces, complaints and mailed unsubscribes come
in by SMTP (`serve`), from an IMAP mailbox (`poll`) or from files (`process`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from newsletter.cli.common import console, fail, print_json

app = typer.Typer(
    help="Receive bounces, complaints and mailed unsubscribes (SMTP, IMAP, files).",
    no_args_is_help=True,
)


@app.command()
def serve(
    host: str = typer.Option(None, "--host", help="Address to listen on [INBOUND_HOST]."),
    port: int = typer.Option(
        None, "--port", min=1, max=65535, help="Port to listen on [INBOUND_PORT]."
    ),
) -> None:
    """Run the inbound SMTP server for the bounce and unsubscribe addresses (Ctrl-C stops)."""
    from newsletter.config import get_settings
    from newsletter.inbound import verp
    from newsletter.inbound.receive_smtp import serve_forever

    settings = get_settings()
    host, port = host or settings.INBOUND_HOST, port or settings.INBOUND_PORT
    addresses = verp.addresses(settings)
    console.print(
        f"Taking mail for {addresses.bounce_localpart}+…@{addresses.domain} and "
        f"{addresses.unsubscribe} on {host}:{port}",
        highlight=False,
    )
    if settings.METRICS_PORT:  # what came back, counted by kind (one process: no folder)
        from newsletter.observability import metrics

        metrics.serve(settings.METRICS_PORT)
    try:
        serve_forever(settings, host, port)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", code=1)


@app.command()
def poll(
    imap: str = typer.Option(None, "--imap", metavar="HOST[:PORT]", help="[IMAP_HOST]"),
    user: str = typer.Option(None, "--user", help="[IMAP_USER]"),
    password_file: Path = typer.Option(
        None, "--password-file", help="A file holding the password [IMAP_PASSWORD(_FILE)]."
    ),
    folder: str = typer.Option(None, "--folder", help="The folder to read [IMAP_FOLDER]."),
    starttls: bool = typer.Option(
        None, "--starttls/--tls", help="STARTTLS on a plain port, or TLS from the start."
    ),
    ca_file: Path = typer.Option(None, "--ca-file", help="Trust this CA [IMAP_CA_FILE]."),
    as_json: bool = typer.Option(False, "--json", help="Print one result per message."),
) -> None:
    """Process every message in an IMAP mailbox and move it to `processed` or `unparsed`."""
    from newsletter.config import ConfigError, get_settings
    from newsletter.inbound.receive_imap import ImapError, mailbox_from_settings
    from newsletter.inbound.receive_imap import poll as poll_mailbox

    settings = get_settings()
    security: Literal["tls", "starttls"] | None = (
        None if starttls is None else "starttls" if starttls else "tls"
    )
    try:
        mailbox = mailbox_from_settings(
            settings,
            host=imap,
            user=user,
            password_file=password_file,
            folder=folder,
            security=security,
            ca_file=ca_file,
        )
        report = poll_mailbox(mailbox, settings)
    except ConfigError as exc:
        fail(str(exc), code=2)
    except ImapError as exc:
        fail(str(exc))
    if as_json:
        print_json([{"message": uid, **result.as_json()} for uid, result in report.results])
        return
    for uid, result in report.results:
        _print_result(f"uid {uid}", result)
    console.print(
        f"{report.processed} processed, {report.unparsed} unparsed, {report.left} left",
        highlight=False,
    )


@app.command()
def process(
    paths: list[Path] = typer.Argument(..., help=".eml files, maildirs, mbox files, folders."),
    as_json: bool = typer.Option(False, "--json", help="Print one result per message."),
) -> None:
    """Process messages from files, as if they had come back by mail (replays, tests)."""
    from newsletter.inbound.process import process_message
    from newsletter.inbound.receive_files import NotAMessageSource, messages_in

    output = []
    try:
        for path in paths:
            for name, raw in messages_in(path):
                for result in process_message(raw, "file"):
                    if as_json:
                        output.append({"message": name, **result.as_json()})
                    else:
                        _print_result(name, result)
    except NotAMessageSource as exc:
        fail(str(exc), code=2)
    if as_json:
        print_json(output)


def _print_result(name: str, result: object) -> None:
    from newsletter.inbound.process import Result

    assert isinstance(result, Result)
    who = result.recipient or "-"
    status = f" {result.status}" if result.status else ""
    console.print(
        f"{name}: [bold]{result.kind}[/]{status} {who}: {result.action} ({result.reason})",
        highlight=False,
        soft_wrap=True,
    )

"""`newsletter dkim-record`: the DNS TXT record that publishes the configured DKIM key."""

from __future__ import annotations

import typer

from newsletter.cli.common import fail, print_json
from newsletter.config import ConfigError, get_settings


def dkim_record(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print the DKIM TXT record to publish for NEWSLETTER_DKIM_PRIVATE_KEY_PATH."""
    from newsletter.dkim_record import txt_record
    from newsletter.rendering.headers import parse_sender
    from newsletter.rendering.signing import load_signer

    settings = get_settings()
    try:
        signer = load_signer(settings, parse_sender(settings.FROM_ADDRESS).domain)
    except ConfigError as exc:
        fail(str(exc), code=2)
    if signer is None:
        fail(
            "DKIM is off: set NEWSLETTER_DKIM_PRIVATE_KEY_PATH and NEWSLETTER_DKIM_SELECTOR "
            "(docs/operations.md says how to make a key)",
            code=2,
        )
    record = txt_record(signer.private_key, signer.selector, signer.domain)
    if as_json:
        print_json({"name": record.name, "type": "TXT", "value": record.value})
        return
    # Plain echo: the value is one long line that must be copied whole, never wrapped.
    typer.echo(f"Name:  {record.name}\nType:  TXT\nValue: {record.value}")
    typer.echo(f"\nAs a zone file line:\n{record.zone_line()}")

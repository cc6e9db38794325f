"""`newsletter inbound poll`: read a mailbox over IMAP (TLS or STARTTLS), for sites whose
bounces land in a hosted mailbox. Beat runs it every IMAP_POLL_MINUTES when IMAP_HOST is set.

Each message is processed, then moved to `processed` (or to `unparsed` when it was filed as
unknown, for a person to read). A message the processor could not record (the database is
away) stays where it is and is read again at the next poll; one processed before is
recognised by the processor and moved without changing anything more.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.config import ENV_PREFIX, ConfigError, Settings
from newsletter.inbound.process import Result, process_message

log = logging.getLogger(__name__)

PROCESSED = "processed"
UNPARSED = "unparsed"
TIMEOUT_SECONDS = 60


class ImapError(Exception):
    """The mailbox could not be reached, logged in to or read; the message says which."""


@dataclass(frozen=True)
class Mailbox:
    host: str
    port: int
    user: str
    password: str
    folder: str = "INBOX"
    security: str = "tls"  # "tls" (implicit, usually 993) or "starttls" (usually 143)
    ca_file: Path | None = None

    @property
    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"


@dataclass
class PollReport:
    processed: int = 0
    unparsed: int = 0
    left: int = 0  # could not be recorded; read again next time
    results: list[tuple[str, Result]] = field(default_factory=list)


def mailbox_from_settings(
    settings: Settings,
    *,
    host: str | None = None,
    user: str | None = None,
    password_file: Path | None = None,
    folder: str | None = None,
    security: str | None = None,
    ca_file: Path | None = None,
) -> Mailbox:
    """The mailbox to poll: command-line values over the IMAP_* settings."""
    address = host or settings.IMAP_HOST
    if not address:
        raise ConfigError(f"no mailbox: give --imap HOST[:PORT] or set {ENV_PREFIX}IMAP_HOST")
    name, _, port_text = address.rpartition(":") if ":" in address else (address, "", "")
    security = security or settings.IMAP_SECURITY
    try:
        port = int(port_text) if port_text else settings.IMAP_PORT or _default_port(security)
    except ValueError:
        raise ConfigError(f"--imap {address!r}: the port must be a number") from None
    login = user or settings.IMAP_USER
    if not login:
        raise ConfigError(f"no IMAP user: give --user or set {ENV_PREFIX}IMAP_USER")
    return Mailbox(
        host=name,
        port=port,
        user=login,
        password=_password(settings, password_file),
        folder=folder or settings.IMAP_FOLDER,
        security=security,
        ca_file=ca_file or settings.IMAP_CA_FILE,
    )


def _default_port(security: str) -> int:
    return 993 if security == "tls" else 143


def _password(settings: Settings, password_file: Path | None) -> str:
    path = password_file or settings.IMAP_PASSWORD_FILE
    if path is not None:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the IMAP password file {path}: {exc.strerror}"
            ) from None
    if settings.IMAP_PASSWORD:
        return settings.IMAP_PASSWORD
    raise ConfigError(
        f"no IMAP password: give --password-file or set {ENV_PREFIX}IMAP_PASSWORD(_FILE)"
    )


def poll(mailbox: Mailbox, settings: Settings) -> PollReport:
    """Process every message in the folder and move it away; raises ImapError."""
    client = _connect(mailbox)
    try:
        return _poll(client, mailbox, settings)
    except imaplib.IMAP4.error as exc:
        raise ImapError(f"IMAP {mailbox.where}: {exc}") from None
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()


def poll_configured(settings: Settings) -> PollReport | None:
    """Beat's periodic poll: the mailbox of the settings, if one is configured."""
    if not settings.IMAP_HOST:
        return None
    report = poll(mailbox_from_settings(settings), settings)
    log.info(
        "polled %s: %d processed, %d unparsed, %d left",
        settings.IMAP_HOST,
        report.processed,
        report.unparsed,
        report.left,
    )
    return report


def _connect(mailbox: Mailbox) -> imaplib.IMAP4:
    context = ssl.create_default_context(cafile=str(mailbox.ca_file) if mailbox.ca_file else None)
    try:
        if mailbox.security == "tls":
            client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                mailbox.host, mailbox.port, ssl_context=context, timeout=TIMEOUT_SECONDS
            )
        else:
            client = imaplib.IMAP4(mailbox.host, mailbox.port, timeout=TIMEOUT_SECONDS)
            client.starttls(ssl_context=context)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapError(
            f"cannot connect to {mailbox.host}:{mailbox.port} ({mailbox.security}): {exc}"
        ) from None
    try:
        client.login(mailbox.user, mailbox.password)
    except imaplib.IMAP4.error as exc:
        client.shutdown()
        raise ImapError(
            f"IMAP login failed for {mailbox.user}@{mailbox.host}: {_text(exc)}"
        ) from None
    return client


def _poll(client: imaplib.IMAP4, mailbox: Mailbox, settings: Settings) -> PollReport:
    for folder in (PROCESSED, UNPARSED):
        client.create(_quoted(folder))  # answers NO when it exists already: fine
    status, _ = client.select(_quoted(mailbox.folder))
    if status != "OK":
        raise ImapError(f"IMAP {mailbox.where}: no such folder")
    status, data = client.uid("SEARCH", "UNDELETED")
    uids = [u.decode() for u in (data[0] or b"").split()] if status == "OK" and data else []
    report = PollReport()
    can_move = "MOVE" in client.capabilities
    for uid in uids:
        raw = _fetch(client, uid)
        if raw is None:
            continue
        try:
            results = process_message(raw, "imap", (), settings)
        except Exception:
            log.exception(
                "could not record message %s from %s; left for the next poll", uid, mailbox.where
            )
            report.left += 1
            continue
        unparsed = all(r.kind == "unknown" for r in results)
        _move(client, uid, UNPARSED if unparsed else PROCESSED, can_move)
        report.unparsed += unparsed
        report.processed += not unparsed
        report.results.extend((uid, r) for r in results)
    if not can_move:
        client.expunge()
    return report


def _fetch(client: imaplib.IMAP4, uid: str) -> bytes | None:
    status, data = client.uid("FETCH", uid, "(BODY.PEEK[])")
    if status != "OK":
        return None
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def _move(client: imaplib.IMAP4, uid: str, folder: str, can_move: bool) -> None:
    if can_move:
        client.uid("MOVE", uid, _quoted(folder))
        return
    status, _ = client.uid("COPY", uid, _quoted(folder))
    if status == "OK":
        client.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)")


def _quoted(name: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9._/-]+", name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(exc: Exception) -> str:
    value = exc.args[0] if exc.args else exc
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

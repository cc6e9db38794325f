"""A real IMAP server for tests: Dovecot (Debian's dovecot-imapd) on free ports of 127.0.0.1.

    with dovecot_server() as imap:
        imap.append(raw_message)          # into INBOX, over IMAP
        ... imap.host, imap.tls_port (TLS), imap.port (STARTTLS), imap.user, imap.password,
        imap.ca_file (the test CA that signed its certificate)
        imap.folder_messages("processed")

Everything (configuration, certificates, mail, logs, sockets) is under a temporary folder
that is removed afterwards; nothing system-wide is touched. Dovecot runs in the foreground
as a child process (as root it drops to its own users, and mail belongs to `nobody`).
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.certs import TestCA
from tests.support.servers import free_port, wait_for_port

DOVECOT = "dovecot"
USER = "bounces"
PASSWORD = "test-imap-password"


@dataclass
class ImapServer:
    host: str
    port: int  # plain IMAP, STARTTLS before login
    tls_port: int  # IMAP over TLS
    user: str
    password: str
    ca_file: Path
    log: Path

    def poll_args(
        self, password: str, security: str = "--tls", ca_file: Path | None = None
    ) -> list[str]:
        """The options of `newsletter inbound poll` that read this mailbox."""
        secret = self.log.with_name("password")
        secret.write_text(password)
        port = self.tls_port if security == "--tls" else self.port
        return [
            *("--imap", f"{self.host}:{port}", "--user", self.user, security),
            *("--password-file", str(secret), "--ca-file", str(ca_file or self.ca_file)),
        ]

    def client(self) -> imaplib.IMAP4_SSL:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        client = imaplib.IMAP4_SSL(self.host, self.tls_port, ssl_context=context, timeout=30)
        client.login(self.user, self.password)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        client = self.client()
        try:
            status, detail = client.append(
                folder, None, None, raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            )
            assert status == "OK", detail
        finally:
            client.logout()

    def folder_messages(self, folder: str) -> list[bytes]:
        """The messages in a folder ([] when it does not exist)."""
        client = self.client()
        try:
            status, _ = client.select(folder, readonly=True)
            if status != "OK":
                return []
            _, data = client.uid("SEARCH", "ALL")
            found: list[bytes] = []
            for uid in (data[0] or b"").decode().split():
                _, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
                found.extend(p[1] for p in parts if isinstance(p, tuple))
            return found
        finally:
            client.logout()


def _users() -> tuple[str, str, int, int]:
    """(login user, internal user, mail uid, mail gid) for the user we run as."""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        return "dovenull", "dovecot", nobody.pw_uid, nobody.pw_gid
    me = pwd.getpwuid(os.geteuid())
    return me.pw_name, me.pw_name, me.pw_uid, me.pw_gid


CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/server.pem
ssl_key = <{root}/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:~/Maildir
mail_uid = {uid}
mail_gid = {gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


@contextmanager
def dovecot_server() -> Iterator[ImapServer]:
    if shutil.which(DOVECOT) is None and not Path("/usr/sbin/dovecot").exists():
        raise RuntimeError("dovecot is not installed (make test installs dovecot-imapd)")
    binary = shutil.which(DOVECOT) or "/usr/sbin/dovecot"
    root = Path(tempfile.mkdtemp(prefix="newsletter-imap-"))
    root.chmod(0o755)
    login_user, internal_user, uid, gid = _users()
    ca = TestCA()
    ca_file = root / "ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    ca.issue("localhost").write(root, "server")
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    (root / "users").chmod(0o644)
    home = root / "home"
    home.mkdir()
    os.chown(home, uid, gid)
    port, tls_port = free_port(), free_port()
    config = root / "dovecot.conf"
    config.write_text(
        CONFIG.format(
            root=root,
            login_user=login_user,
            internal_user=internal_user,
            uid=uid,
            gid=gid,
            port=port,
            tls_port=tls_port,
        )
    )
    log = root / "dovecot.log"
    with open(log, "ab") as errors:
        process = subprocess.Popen(
            [binary, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=errors
        )
    try:
        try:
            wait_for_port(tls_port)
            wait_for_port(port)
        except TimeoutError:
            raise RuntimeError(f"dovecot did not start:\n{log.read_text()[-3000:]}") from None
        yield ImapServer("127.0.0.1", port, tls_port, USER, PASSWORD, ca_file, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)

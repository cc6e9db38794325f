"""`newsletter staff ...`: create and list staff accounts for the web console, and set their
passwords."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from newsletter import audit
from newsletter.cli.common import console, fail, open_session
from newsletter.staff import (
    StaffError,
    create_staff,
    find_staff,
    list_staff,
    parse_role,
    set_password,
)

app = typer.Typer(
    help="Create and list staff accounts for the web console, and set their passwords.",
    no_args_is_help=True,
)


def _read_password() -> str:
    """Asked for twice at a terminal; otherwise the first line of stdin (for scripts)."""
    if sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    return sys.stdin.readline().rstrip("\r\n")


@app.command()
def create(
    email: str,
    role: str = typer.Option(..., "--role", help="admin or comms"),
) -> None:
    """Create a staff account; the password is asked for, or read from stdin."""
    try:
        chosen = parse_role(role)
    except StaffError as exc:
        fail(str(exc), code=2)
    password = _read_password()
    with open_session() as session:
        try:
            user = create_staff(session, email, password, chosen)
        except StaffError as exc:
            fail(str(exc))
        console.print(f"Created {user.role.value} account {user.email}.")


@app.command("list")
def list_() -> None:
    """List staff accounts and their roles."""
    with open_session() as session:
        users = list_staff(session)
        table = Table("email", "role", "active", "created")
        for user in users:
            created = user.created_at.strftime("%Y-%m-%d")
            table.add_row(user.email, user.role.value, "yes" if user.active else "no", created)
    console.print(table)


@app.command("set-password")
def set_password_(email: str) -> None:
    """Give an account a new password (asked for, or read from stdin) and end its sessions.

    For an operator when the emailed reset link cannot help: no outgoing mail yet, or the last
    admin locked out."""
    password = _read_password()
    with open_session() as session:
        user = find_staff(session, email)
        if user is None:
            fail(f"there is no staff account for {email.strip().lower()}")
        try:
            set_password(session, user, password, audit.cli_actor())
        except StaffError as exc:
            fail(str(exc))
        console.print(f"New password set for {user.email}; its sessions are ended.")

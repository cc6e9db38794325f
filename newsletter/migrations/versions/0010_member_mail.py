"""Members' own emails go through the ledger: a send kind of their own, `member-mail`.

The kind is a VARCHAR with a CHECK constraint (`sendkind`). PostgreSQL replaces the
constraint. SQLite cannot alter one, and rebuilding `send` would cascade-delete every delivery
(DROP TABLE deletes its rows first while foreign keys are on, and they cannot be turned off
inside the migration's transaction); so the constraint's text is widened in place, the way
SQLite's documentation describes for loosening a CHECK constraint: every stored row already
satisfies the wider one.

Revision ID: 0010
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("alert", "digest", "reminder", "announcement")
NEW = (*OLD, "member-mail")


def _check(kinds: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def _replace(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint("sendkind", "send", type_="check")
        op.create_check_constraint("sendkind", "send", _check(new))
        return
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    before, after = f"CHECK ({_check(old)})", f"CHECK ({_check(new)})"
    changed = bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?)"
        " WHERE type = 'table' AND name = 'send' AND instr(sql, ?) > 0",
        (before, after, before),
    ).rowcount
    bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")
    if changed != 1:
        raise RuntimeError("the send table's kind constraint is not the one this migration knows")


def upgrade() -> None:
    _replace(OLD, NEW)


def downgrade() -> None:
    op.execute("DELETE FROM send WHERE kind = 'member-mail'")
    _replace(NEW, OLD)

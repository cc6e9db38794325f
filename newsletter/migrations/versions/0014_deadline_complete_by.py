"""Deadline kind `complete_by`: a date by which something must be spent, used or finished is
not an application closing ("Grants must be spent by 31 March 2028").

Revision ID: 0014
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("opens", "closes", "effective", "announcement")
NEW = (*OLD, "complete_by")


def _kinds(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(
        *values, name="deadlinekind", native_enum=False, create_constraint=True, length=20
    )


def _change(before: tuple[str, ...], after: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot alter a CHECK constraint: the table is copied with the new one.
        with op.batch_alter_table("deadline", recreate="always") as batch_op:
            batch_op.alter_column(
                "kind", existing_type=_kinds(before), type_=_kinds(after), existing_nullable=False
            )
        return
    op.drop_constraint("deadlinekind", "deadline", type_="check")
    op.create_check_constraint("deadlinekind", "deadline", sa.column("kind").in_(after))


def upgrade() -> None:
    _change(OLD, NEW)


def downgrade() -> None:
    op.execute("UPDATE deadline SET kind = 'closes' WHERE kind = 'complete_by'")
    _change(NEW, OLD)

"""Where a member's consent comes from and when it was given (consent_basis, consent_at), and
the end of a pause (paused_until), so that an export carries them and an import restores them.

Members who are not pending already had their consent before it was recorded: they are given
a basis saying so, dated when they confirmed or joined, so that their export re-imports as
it is (an import makes a new member active only with a stated consent).

Revision ID: 0008
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE_THE_RECORD = "given before consent was recorded"


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("consent_basis", sa.String(length=300), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True))
    member = sa.table(
        "member",
        sa.column("status", sa.String),
        sa.column("consent_basis", sa.String),
        sa.column("consent_at", sa.DateTime(timezone=True)),
        sa.column("confirmed_at", sa.DateTime(timezone=True)),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        member.update()
        .where(member.c.status != "pending")
        .values(
            consent_basis=BEFORE_THE_RECORD,
            consent_at=sa.func.coalesce(member.c.confirmed_at, member.c.created_at),
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("paused_until")
        batch_op.drop_column("consent_at")
        batch_op.drop_column("consent_basis")

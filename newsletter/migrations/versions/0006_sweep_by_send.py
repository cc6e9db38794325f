"""The recovery sweep reads each sending send's rows through ix_delivery_send_status; the
(status, next_attempt_at) index it used went, because maintaining it on every result write was
most of that write's cost on PostgreSQL (bench/: 0.14-0.18 -> 0.06 ms a result).

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_status_next")


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index(
            "ix_delivery_status_next", ["status", "next_attempt_at"], unique=False
        )

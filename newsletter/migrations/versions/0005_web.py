"""Schema for the web app (web issue): rate-limit counters shared by every web worker.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "throttle_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(length=400), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_throttle_hit")),
    )
    op.create_index(
        "ix_throttle_hit_bucket_at", "throttle_hit", ["bucket", "created_at"], unique=False
    )
    op.create_index(
        op.f("ix_throttle_hit_created_at"), "throttle_hit", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_throttle_hit_created_at"), table_name="throttle_hit")
    op.drop_index("ix_throttle_hit_bucket_at", table_name="throttle_hit")
    op.drop_table("throttle_hit")

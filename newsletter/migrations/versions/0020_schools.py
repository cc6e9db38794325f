"""Built for schools (issue 20): member roles with default topics, and a version in each
member's private calendar feed link so it can be revoked on its own.

The four roles the association's members hold are added, without defaults: admins choose
those in the console.

Revision ID: 0020
Revises: 0008
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ("SENCO", "ALENCO", "Phase leader", "Subject leader")


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("calendar_version", sa.Integer(), server_default="1", nullable=False)
        )
    role = op.create_table(
        "member_role",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "role_default",
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column(
            "frequency",
            sa.Enum(
                "immediate",
                "daily",
                "weekly",
                name="frequency",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["role_id"], ["member_role.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["topic_id"], ["topic.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("role_id", "topic_id"),
    )
    now = datetime.now(UTC)
    op.bulk_insert(role, [{"name": name, "created_at": now} for name in ROLES])


def downgrade() -> None:
    op.drop_table("role_default")
    op.drop_table("member_role")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("calendar_version")

"""Urgent notices that members acknowledge (issue 20): which sends carry an "I've read this"
button (a notice and its chases, one row a round), and each member's acknowledgement.

Revision ID: 0022
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notice_send",
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("chase_days", sa.Integer(), nullable=False),
        sa.Column("chase_limit", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["send.id"],
            name=op.f("fk_notice_send_notice_id_send"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["send_id"], ["send.id"], name=op.f("fk_notice_send_send_id_send"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("send_id", name=op.f("pk_notice_send")),
        sa.UniqueConstraint("notice_id", "round", name=op.f("uq_notice_send_notice_id_round")),
    )
    op.create_table(
        "acknowledgement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_acknowledgement_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["send.id"],
            name=op.f("fk_acknowledgement_notice_id_send"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acknowledgement")),
        sa.UniqueConstraint(
            "notice_id", "member_id", name=op.f("uq_acknowledgement_notice_id_member_id")
        ),
    )
    op.create_index(
        op.f("ix_acknowledgement_member_id"), "acknowledgement", ["member_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_acknowledgement_member_id"), table_name="acknowledgement")
    op.drop_table("acknowledgement")
    op.drop_table("notice_send")

"""Send windows and school holidays (issue 20): sends held for the send window, members'
"no email at weekends" and "pause daily digests in school holidays" with their region, and
each region's school terms.

Revision ID: 0021
Revises: 0022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("no_weekend_email", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("pause_in_holidays", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "school_region", sa.String(length=50), server_default="england", nullable=False
            )
        )
    with op.batch_alter_table("send", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("held", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "school_term",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("starts", sa.Date(), nullable=False),
        sa.Column("ends", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_school_term")),
        sa.UniqueConstraint("region", "starts", name=op.f("uq_school_term_region_starts")),
    )
    op.create_index(op.f("ix_school_term_region"), "school_term", ["region"])


def downgrade() -> None:
    op.drop_index(op.f("ix_school_term_region"), table_name="school_term")
    op.drop_table("school_term")
    with op.batch_alter_table("send", schema=None) as batch_op:
        batch_op.drop_column("held")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("school_region")
        batch_op.drop_column("pause_in_holidays")
        batch_op.drop_column("no_weekend_email")

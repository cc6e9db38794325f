"""The consent record: every change to a member's choices as an event, and the opt-outs that
only the member can undo (topic by topic in opt_out, the whole list on member).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCES = (
    "subscribe-form",
    "confirm",
    "manage-page",
    "one-click",
    "mailto",
    "complaint",
    "bounce",
    "import",
    "api",
    "console",
)


def _source(name: str) -> sa.Enum:
    return sa.Enum(*SOURCES, name=name, native_enum=False, create_constraint=True, length=20)


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("opted_out_source", _source("opted_out_source"), nullable=True)
        )

    op.create_table(
        "opt_out",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("source", _source("consentsource"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_opt_out_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"], ["topic.id"], name=op.f("fk_opt_out_topic_id_topic"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("member_id", "topic_id", name=op.f("pk_opt_out")),
    )
    op.create_table(
        "consent_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column(
            "field",
            sa.Enum(
                "subscription",
                "status",
                "pause",
                "email",
                name="consentfield",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("topic_id", sa.Integer(), nullable=True),
        sa.Column("old_value", sa.String(length=320), nullable=False),
        sa.Column("new_value", sa.String(length=320), nullable=False),
        sa.Column("source", _source("consentsource"), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_consent_event_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topic.id"],
            name=op.f("fk_consent_event_topic_id_topic"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_event")),
    )
    op.create_index(
        "ix_consent_event_member_at", "consent_event", ["member_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_consent_event_member_at", table_name="consent_event")
    op.drop_table("consent_event")
    op.drop_table("opt_out")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("opted_out_source")
        batch_op.drop_column("opted_out_at")

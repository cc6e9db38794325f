"""The return path: every message that came back (bounce, complaint, mailto unsubscribe,
auto-reply, unknown) as inbound_event rows; suppressions point at the event that caused them;
a suppression may be for too many soft bounces.

Revision ID: 0011
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_REASONS = ("hard_bounce", "complaint", "unsubscribe", "manual")
NEW_REASONS = (*OLD_REASONS, "soft_bounce")
KINDS = ("hard_bounce", "soft_bounce", "complaint", "auto_reply", "unsubscribe", "unknown")


def _reasons(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(
        *values, name="suppressionreason", native_enum=False, create_constraint=True, length=20
    )


def upgrade() -> None:
    op.create_table(
        "inbound_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_key", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                *KINDS, name="inboundkind", native_enum=False, create_constraint=True, length=20
            ),
            nullable=False,
        ),
        sa.Column("cause", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("send_id", sa.Integer(), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("report_action", sa.String(length=20), nullable=False),
        sa.Column("diagnostic", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=200), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["delivery.id"],
            name=op.f("fk_inbound_event_delivery_id_delivery"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_inbound_event_member_id_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["send_id"],
            ["send.id"],
            name=op.f("fk_inbound_event_send_id_send"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_event")),
        sa.UniqueConstraint(
            "message_key", "position", name=op.f("uq_inbound_event_message_key_position")
        ),
    )
    op.create_index(
        op.f("ix_inbound_event_created_at"), "inbound_event", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_inbound_event_delivery_id"), "inbound_event", ["delivery_id"], unique=False
    )
    op.create_index(op.f("ix_inbound_event_domain"), "inbound_event", ["domain"], unique=False)
    op.create_index(
        "ix_inbound_event_member_at", "inbound_event", ["member_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_inbound_event_send_kind", "inbound_event", ["send_id", "kind"], unique=False
    )
    with op.batch_alter_table("suppression", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_suppression_event_id_inbound_event"),
            "inbound_event",
            ["event_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.alter_column(
            "reason",
            existing_type=_reasons(OLD_REASONS),
            type_=_reasons(NEW_REASONS),
            existing_nullable=False,
        )


def downgrade() -> None:
    op.execute("DELETE FROM suppression WHERE reason = 'soft_bounce'")
    with op.batch_alter_table("suppression", schema=None) as batch_op:
        batch_op.alter_column(
            "reason",
            existing_type=_reasons(NEW_REASONS),
            type_=_reasons(OLD_REASONS),
            existing_nullable=False,
        )
        batch_op.drop_constraint(
            batch_op.f("fk_suppression_event_id_inbound_event"), type_="foreignkey"
        )
        batch_op.drop_column("event_id")
    op.drop_index("ix_inbound_event_send_kind", table_name="inbound_event")
    op.drop_index("ix_inbound_event_member_at", table_name="inbound_event")
    op.drop_index(op.f("ix_inbound_event_domain"), table_name="inbound_event")
    op.drop_index(op.f("ix_inbound_event_delivery_id"), table_name="inbound_event")
    op.drop_index(op.f("ix_inbound_event_created_at"), table_name="inbound_event")
    op.drop_table("inbound_event")

"""Running it: each worker's and beat's heartbeat, and the incidents admins are told about.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INCIDENT_KINDS = ("stuck_send", "missed_send", "digest_not_run", "backend_refusing", "no_worker")


def _utc(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "process_heartbeat",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "worker",
                "beat",
                name="processkind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        _utc("started_at"),
        _utc("last_seen_at"),
        _utc("stopped_at", nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_process_heartbeat")),
    )
    op.create_table(
        "incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                *INCIDENT_KINDS,
                name="incidentkind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        _utc("opened_at"),
        _utc("last_seen_at"),
        _utc("resolved_at", nullable=True),
        _utc("dismissed_at", nullable=True),
        sa.Column("dismissed_by", sa.String(length=320), nullable=False),
        _utc("notify_claimed_at", nullable=True),
        _utc("notified_at", nullable=True),
        sa.Column("notify_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
        sa.UniqueConstraint("key", name=op.f("uq_incident_key")),
    )


def downgrade() -> None:
    op.drop_table("incident")
    op.drop_table("process_heartbeat")

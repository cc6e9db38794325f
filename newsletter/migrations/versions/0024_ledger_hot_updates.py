"""The ledger's two updates of each row (the claim, the result) become HOT on PostgreSQL: no
index holds `status` any more (ix_delivery_send_status went; a send's rows are read through
the unique (send_id, member_id)), and pages are filled to half by inserts, so that the new row
versions fit on the same page (ADR 0024).

Revision ID: 0024
Revises: 0023
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 50  # models.LEDGER_FILLFACTOR when this was written


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_send_status")
    if op.get_bind().dialect.name == "postgresql":
        # Pages written from now on; the rows already there stay where they are.
        op.execute(f"ALTER TABLE delivery SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE delivery RESET (fillfactor)")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_send_status", ["send_id", "status"], unique=False)

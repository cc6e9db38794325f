"""Member search (`email` or lower(`name`) containing the text) reads an index on PostgreSQL
instead of every member: trigram GIN indexes (pg_trgm, a trusted extension that ships with
PostgreSQL). At 100,000 members a search read the whole table twice (its count and its page),
which thirty staff searching during a big send turned into most of PostgreSQL's CPU (ADR
0025). SQLite has no trigram index and keeps reading the table: a small association's.

Revision ID: 0025
Revises: 0024
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE INDEX ix_member_email_trgm ON member USING gin (email gin_trgm_ops)")
    op.execute("CREATE INDEX ix_member_name_trgm ON member USING gin (lower(name) gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_member_name_trgm")
    op.execute("DROP INDEX ix_member_email_trgm")

"""Seed the association's starting topics.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEED_TOPICS = [
    ("assessment", "Assessment", "Exams, qualifications, grading and accountability."),
    ("funding", "Funding", "Grants, budgets, costs and funding approval."),
    ("itt", "Initial teacher training", "Trainees, mentors and accredited ITT providers."),
    ("careers", "Careers", "Careers guidance, provider access and apprenticeships."),
    ("npq", "NPQ", "National professional qualifications (NPQML, NPQSL, NPQH, NPQEL and more)."),
]

topic = sa.table(
    "topic",
    sa.column("slug", sa.String),
    sa.column("name", sa.String),
    sa.column("description", sa.Text),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    now = datetime.now(UTC)
    op.bulk_insert(
        topic,
        [
            {"slug": slug, "name": name, "description": description, "created_at": now}
            for slug, name, description in SEED_TOPICS
        ],
    )


def downgrade() -> None:
    op.execute(topic.delete().where(topic.c.slug.in_([slug for slug, _, _ in SEED_TOPICS])))

"""Seed the topics' keyword rules used to tag articles (articles issue); keep each imported
article's original text and format, which teaches the page-capture importer the site chrome.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (topic slug, phrase, weight). A phrase with capitals matches with that case ("A level" is
# not "a level playing field"); plurals match too ("trainees", "NPQs"). Admins edit these later.
SEED_RULES = [
    ("assessment", "exam", 2.0),
    ("assessment", "examination", 2.0),
    ("assessment", "GCSE", 3.0),
    ("assessment", "A level", 3.0),
    ("assessment", "AS level", 2.0),
    ("assessment", "VTQ", 3.0),
    ("assessment", "vocational and technical qualification", 3.0),
    ("assessment", "Ofqual", 3.0),
    ("assessment", "awarding organisation", 3.0),
    ("assessment", "awarding bodies", 2.0),
    ("assessment", "grading", 2.0),
    ("assessment", "grade", 1.0),
    ("assessment", "results day", 2.0),
    ("assessment", "coursework", 2.0),
    ("assessment", "non-exam assessment", 2.0),
    ("assessment", "moderation", 1.5),
    ("assessment", "key stage 2 tests", 2.0),
    ("assessment", "assessment", 0.5),
    ("funding", "funding", 2.0),
    ("funding", "funding approval", 3.0),
    ("funding", "grant", 2.0),
    ("funding", "cost", 1.0),
    ("funding", "£", 1.5),
    ("funding", "budget", 2.0),
    ("funding", "funded", 1.5),
    ("funding", "allocation", 1.5),
    ("funding", "pupil premium", 3.0),
    ("funding", "ESFA", 3.0),
    ("funding", "Education and Skills Funding Agency", 3.0),
    ("funding", "million pounds", 1.5),
    ("itt", "initial teacher training", 4.0),
    ("itt", "ITT", 4.0),
    ("itt", "trainee", 3.0),
    ("itt", "teacher training", 3.0),
    ("itt", "mentor", 1.5),
    ("itt", "accredited provider", 1.0),
    ("itt", "accreditation", 0.5),
    ("itt", "QTS", 3.0),
    ("itt", "qualified teacher status", 3.0),
    ("itt", "SCITT", 3.0),
    ("itt", "School Direct", 2.0),
    ("itt", "Core Content Framework", 2.0),
    ("itt", "school placement", 2.0),
    ("careers", "careers guidance", 4.0),
    ("careers", "careers", 2.0),
    ("careers", "careers leader", 3.0),
    ("careers", "provider access", 3.0),
    ("careers", "Baker Clause", 3.0),
    ("careers", "apprenticeship", 3.0),
    ("careers", "Gatsby Benchmark", 3.0),
    ("careers", "work experience", 2.0),
    ("careers", "T Level", 2.0),
    ("careers", "technical education", 1.5),
    ("careers", "destinations", 1.0),
    ("npq", "NPQ", 4.0),
    ("npq", "National Professional Qualification", 4.0),
    ("npq", "NPQML", 4.0),
    ("npq", "NPQSL", 4.0),
    ("npq", "NPQH", 4.0),
    ("npq", "NPQEL", 4.0),
    ("npq", "NPQLT", 4.0),
    ("npq", "NPQLTD", 4.0),
    ("npq", "NPQLBC", 4.0),
    ("npq", "NPQEYL", 4.0),
    ("npq", "headship", 1.5),
    ("npq", "leadership qualification", 2.0),
]

topic = sa.table("topic", sa.column("id", sa.Integer), sa.column("slug", sa.String))
topic_rule = sa.table(
    "topic_rule",
    sa.column("topic_id", sa.Integer),
    sa.column("phrase", sa.String),
    sa.column("weight", sa.Float),
)


def upgrade() -> None:
    with op.batch_alter_table("article", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source_format", sa.String(length=20), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("raw_text", sa.Text(), server_default="", nullable=False))

    ids = dict(op.get_bind().execute(sa.select(topic.c.slug, topic.c.id)).all())
    op.bulk_insert(
        topic_rule,
        [
            {"topic_id": ids[slug], "phrase": phrase, "weight": weight}
            for slug, phrase, weight in SEED_RULES
            if slug in ids  # a topic deleted before this ran gets no rules
        ],
    )


def downgrade() -> None:
    ids = dict(op.get_bind().execute(sa.select(topic.c.slug, topic.c.id)).all())
    for slug, phrase, _ in SEED_RULES:  # rules admins added later stay
        if slug in ids:
            op.execute(
                topic_rule.delete().where(
                    topic_rule.c.topic_id == ids[slug], topic_rule.c.phrase == phrase
                )
            )
    with op.batch_alter_table("article", schema=None) as batch_op:
        batch_op.drop_column("raw_text")
        batch_op.drop_column("source_format")

"""Alembic environment: runs migrations against the URL given by newsletter.db.upgrade()."""

from alembic import context

from newsletter import models  # noqa: F401  (registers every table on Base.metadata)
from newsletter.db import Base, make_engine
from newsletter.models import compared_by_alembic

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=compared_by_alembic,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()

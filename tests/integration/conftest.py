"""Fixtures more than one integration module takes, defined in tests/support/."""

from tests.support.bounce_corpus import corpus_db  # noqa: F401
from tests.support.worker_env import env, pg_url  # noqa: F401

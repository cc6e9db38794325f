"""Warm a worker up: what every batch needs, loaded once in the worker's main process."""

from __future__ import annotations

from newsletter.config import Settings


def warm_up(settings: Settings) -> None:
    """Import and compile once, in a worker's main process, what every batch needs: each pool
    process forked from it starts with it (bench/: importing the database driver and compiling
    the templates in each pool process was a tenth of a 10,000-member digest's worker time)."""
    from newsletter.db import make_engine
    from newsletter.delivery import ratelimit  # noqa: F401  (imports redis: 0.2 s)
    from newsletter.delivery.backends import get_backend
    from newsletter.rendering.environment import default_templates

    env = default_templates().env
    for name in env.list_templates(extensions=["j2"]):
        env.get_template(name)
    get_backend(settings=settings)
    make_engine(settings.DATABASE_URL).dispose()  # imports the driver; connects to nothing

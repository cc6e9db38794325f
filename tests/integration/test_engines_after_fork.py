"""A forked process (a worker's pool process) opens its own database connections instead of
talking over its parent's."""

from __future__ import annotations

import os

from sqlalchemy import text

from newsletter.db import get_engine


def _backend_pid(url: str) -> int:
    with get_engine(url).connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_forked_process_does_not_share_its_parents_connection(pg_url: str) -> None:
    parent = _backend_pid(url=pg_url)  # the connection stays in the pool, as after a check
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's outcome is read by the parent)
        try:
            os.write(writing, str(_backend_pid(pg_url)).encode())
        finally:
            os._exit(0)
    os.close(writing)
    os.waitpid(child, 0)
    with os.fdopen(reading) as answer:
        childs = int(answer.read() or 0)
    assert childs and childs != parent
    assert _backend_pid(pg_url) == parent  # and the parent's connection still works

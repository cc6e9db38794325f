"""A worker forks its pool processes after it has checked the database: a pool process must open
connections of its own, not use the ones its parent left in the pool (two processes on one
connection garble each other's replies)."""

from __future__ import annotations

import os

from newsletter import db


def test_a_forked_process_opens_its_own_connections(db_url: str) -> None:
    with db.get_engine(db_url).connect() as connection:  # back into the pool, as check_ready's
        inherited = connection.connection.dbapi_connection
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the pool process
        try:
            with db.get_engine(db_url).connect() as connection:
                own = connection.connection.dbapi_connection is not inherited
            os.write(write, b"own" if own else b"inherited")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 100)
    os.waitpid(child, 0)
    assert answer == b"own"

"""`python -m bench.member_import`: how fast `members import` writes, and how long each of its
chunks holds the database's writer lock (SQLite) or its rows (PostgreSQL).

    .venv/bin/python -m bench.member_import --rows 5000
    .venv/bin/python -m bench.member_import --rows 5000 --url postgresql://127.0.0.1:5432/x

Imports N new members into a fresh database (SQLite in a temporary folder unless --url), then
the same file again (every row an update). A chunk's hold runs from its first write statement
(or BEGIN) to its commit, measured on the connection.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from sqlalchemy import event

from newsletter import db
from newsletter.member_import import import_members

WRITES = ("INSERT", "UPDATE", "DELETE", "BEGIN")


def members_csv(rows: int) -> str:
    row = "m{n}@example.org,Member {n},SENCO,funding:immediate;npq:weekly"
    lines = ["email,name,role,topics"] + [row.format(n=n) for n in range(rows)]
    return "\n".join(lines) + "\n"


def measure(url: str, text: str, label: str) -> None:
    holds: list[float] = []
    first: list[float] = []

    def before(_conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
        if not first and statement.lstrip().upper().startswith(WRITES):
            first.append(time.monotonic())

    def committed(_conn) -> None:  # type: ignore[no-untyped-def]
        if first:
            holds.append(time.monotonic() - first.pop())

    engine = db.get_engine(url)
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "commit", committed)
    cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    started = time.perf_counter()
    with db.session_scope(url) as session:
        report = import_members(session, text, actor="bench", consent_basis="bench")
    wall = time.perf_counter() - started
    cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu
    event.remove(engine, "before_cursor_execute", before)
    event.remove(engine, "commit", committed)
    rows = len(report.rows)
    print(
        f"{label}: {rows} rows in {wall:.1f} s ({1000 * wall / rows:.2f} ms a row, "
        f"{1000 * cpu / rows:.2f} ms CPU), {report.chunks} commits, lock held "
        f"max {max(holds):.2f} s, mean {sum(holds) / len(holds):.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--url", default="", help="an empty PostgreSQL database to use")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite:///{Path(folder) / 'bench.db'}"
        db.upgrade(url)
        text = members_csv(args.rows)
        measure(url, text, "new members")
        measure(url, text, "re-import")
        db.get_engine(url).dispose()


if __name__ == "__main__":
    main()

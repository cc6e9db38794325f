"""Members CSV text made up for tests of large imports."""

from __future__ import annotations


def big_csv(rows: int, bad_line: int | None = None) -> str:
    lines = ["email,name,role,topics"]
    for n in range(rows):
        email = "not-an-address" if n + 2 == bad_line else f"member{n}@example.com"
        lines.append(f"{email},Member {n},Head of year,npq:weekly")
    return "\n".join(lines) + "\n"

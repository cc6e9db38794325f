"""Route handlers call service functions and build no queries (the developers' guide): no
module under newsletter/web imports SQLAlchemy's query builders or runs a statement itself.
The queries live in newsletter/ where the CLI and the API share them."""

from __future__ import annotations

import ast
from pathlib import Path

import newsletter.web

WEB = Path(newsletter.web.__file__).parent
ALLOWED_IMPORTS = {("sqlalchemy.orm", "Session")}  # the type of the session a route is given
RUNS_A_STATEMENT = {"execute", "scalar", "scalars", "query"}


def queries_in(source: str) -> list[str]:
    """Each place in `source` that builds or runs a query, as `line: what`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            found += [
                f"{node.lineno}: from {node.module} import {alias.name}"
                for alias in node.names
                if (node.module, alias.name) not in ALLOWED_IMPORTS
            ]
        elif isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.startswith("sqlalchemy")
            ]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in RUNS_A_STATEMENT
        ):
            found.append(f"{node.lineno}: .{node.func.attr}(...)")
    return found


def test_no_module_under_web_builds_or_runs_a_query() -> None:
    modules = sorted(WEB.rglob("*.py"))
    assert len(modules) > 20  # the console's and the API's packages are searched too
    offenders = {
        str(path.relative_to(WEB)): queries
        for path in modules
        if (queries := queries_in(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_a_query_in_a_route_is_found() -> None:
    route = (
        "from sqlalchemy import select\n"
        "from sqlalchemy.orm import Session\n"
        "def page(session: Session) -> None:\n"
        "    session.scalars(select(Member))\n"
    )
    assert queries_in(route) == ["1: from sqlalchemy import select", "4: .scalars(...)"]

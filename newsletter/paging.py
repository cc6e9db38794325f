"""Long lists shown a page at a time: the console's members, articles and audit log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    total: int  # rows matching, on every page
    number: int  # this page's number, from 1
    count: int  # how many pages there are (at least one)


def page_count(total: int, page_size: int) -> int:
    """How many pages `total` rows fill (at least one, so an empty list still has a page)."""
    return max(1, -(-total // page_size))


def clamp_page(page: int, total: int, page_size: int) -> int:
    """The asked-for page, kept between the first and the last."""
    return max(1, min(page, page_count(total, page_size)))


def fetch_page(session: Session, query: Select[T], page: int, page_size: int) -> Page[T]:
    """One page of `query`'s rows (past the last page: the last page), and the total."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    number = clamp_page(page, total, page_size)
    rows = session.scalars(query.offset((number - 1) * page_size).limit(page_size))
    return Page(list(rows), total, number, page_count(total, page_size))

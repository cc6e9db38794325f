"""Page numbers for the console's and the archive's long lists."""

from __future__ import annotations


def page_count(total: int, page_size: int) -> int:
    """How many pages `total` rows fill (at least one, so an empty list still has a page)."""
    return max(1, -(-total // page_size))


def clamp_page(page: int, total: int, page_size: int) -> int:
    """The asked-for page, kept between the first and the last."""
    return max(1, min(page, page_count(total, page_size)))

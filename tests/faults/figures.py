"""The figures every scenario reports: sent, lost, duplicated, attempts.

Each scenario counts, per member, the copies the SMTP server accepted, and reads the attempts
from the ledger. `report` prints them (visible with -s or -rA) and keeps them for the summary
that tests/faults/conftest.py writes at the end of every run, so they show in `make test`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select

from newsletter.db import session_scope
from newsletter.models import Delivery

RESULTS: list[Figures] = []


@dataclass(frozen=True)
class Figures:
    scenario: str
    owed: int  # copies that should have gone out (one per member, or per member and send)
    sent: int  # copies the SMTP server accepted
    lost: int  # members owed a copy who got none
    duplicated: int  # copies beyond the first, over all members
    attempts: int  # delivery attempts in the ledger
    transactions: int  # RCPT TOs the SMTP server saw (accepted, refused or cut)
    note: str = ""

    def line(self) -> str:
        text = (
            f"{self.scenario}: owed={self.owed} sent={self.sent} lost={self.lost} "
            f"duplicated={self.duplicated} attempts={self.attempts} "
            f"smtp_transactions={self.transactions}"
        )
        return f"{text} ({self.note})" if self.note else text


def count(
    scenario: str,
    expected: Iterable[str],
    copies: Counter[str],
    send_ids: Iterable[int],
    transactions: int,
    note: str = "",
) -> Figures:
    """Compare the copies accepted per address with the addresses that were owed one."""
    owed = set(expected)
    attempts = ledger_attempts(send_ids)
    return Figures(
        scenario=scenario,
        owed=len(owed),
        sent=sum(copies.values()),
        lost=sum(1 for a in owed if copies[a] == 0),
        duplicated=sum(n - 1 for n in copies.values() if n > 1),
        attempts=attempts,
        transactions=transactions,
        note=note,
    )


def ledger_attempts(send_ids: Iterable[int]) -> int:
    with session_scope() as session:
        total = session.scalar(
            select(func.sum(Delivery.attempts)).where(Delivery.send_id.in_(list(send_ids)))
        )
    return int(total or 0)


def report(figures: Figures) -> Figures:
    RESULTS.append(figures)
    print(f"\nRELIABILITY {figures.line()}", flush=True)
    return figures

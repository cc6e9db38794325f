"""The figures every scenario reports: sent, lost, duplicated (against its bound), attempts.

Each scenario counts, per member, the copies the SMTP server accepted, and reads the attempts
from the ledger. `report` prints them (visible with -s or -rA) and keeps them for the summary
printed at the end of every run (from each test report), so they show in `make test`.
Under `make soak` (SOAK_RESULTS set) each is also appended, as one JSON line, to that file,
with the run's fault timing, the unsent rows of a run that lost someone, and the latencies of
the unsubscribes it made.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from sqlalchemy import func, select

from newsletter.db import session_scope
from newsletter.models import Delivery, DeliveryStatus, Member
from tests.faults.chaos import Chaos

# Figures not yet put on a test report (tests/faults/conftest.py moves them there).
UNREPORTED: list[Figures] = []
RESULTS_VARIABLE = "SOAK_RESULTS"
UNSENT_SHOWN = 50


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
    bound: int = 0  # the duplicates the scenario's faults may cause (docs/reliability.md)
    faults: str = ""  # the fault timing of this run (chaos.py)
    seed: str = ""  # SOAK_SEED of the run, "" in `make test`
    # (address, status, attempts, last error) of rows not sent, when someone was lost
    unsent: list[tuple[str, str, int, str]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds, of one-click POSTs

    def line(self) -> str:
        text = (
            f"{self.scenario}: owed={self.owed} sent={self.sent} lost={self.lost} "
            f"duplicated={self.duplicated} (bound {self.bound}) attempts={self.attempts} "
            f"smtp_transactions={self.transactions}"
        )
        if self.latencies:
            text += f" unsubscribe p99={percentile(self.latencies, 99):.3f}s"
            text += f" max={max(self.latencies):.3f}s"
        details = "; ".join(part for part in (self.note, self.faults) if part)
        return f"{text} ({details})" if details else text


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def count(
    scenario: str,
    expected: Iterable[str],
    copies: Counter[str],
    send_ids: Iterable[int],
    transactions: int,
    note: str = "",
    *,
    bound: int = 0,
    chaos: Chaos | None = None,
    latencies: Sequence[float] = (),
) -> Figures:
    """Compare the copies accepted per address with the addresses that were owed one."""
    owed = set(expected)
    sends = list(send_ids)
    lost = sum(1 for a in owed if copies[a] == 0)
    return Figures(
        scenario=scenario,
        owed=len(owed),
        sent=sum(copies.values()),
        lost=lost,
        duplicated=sum(n - 1 for n in copies.values() if n > 1),
        attempts=ledger_attempts(sends),
        transactions=transactions,
        note=note,
        bound=bound,
        faults=chaos.describe() if chaos else "",
        seed=chaos.seed if chaos else "",
        unsent=unsent_rows(sends) if lost else [],
        latencies=list(latencies),
    )


def unsent_rows(send_ids: Sequence[int]) -> list[tuple[str, str, int, str]]:
    """(address, status, attempts, last error) of the sends' rows that were not sent."""
    with session_scope() as session:
        rows = session.execute(
            select(Member.email, Delivery.status, Delivery.attempts, Delivery.last_error)
            .join(Member, Member.id == Delivery.member_id)
            .where(Delivery.send_id.in_(send_ids), Delivery.status != DeliveryStatus.SENT)
            .order_by(Member.email)
            .limit(UNSENT_SHOWN)
        )
        return [(email, status.value, attempts, error) for email, status, attempts, error in rows]


def ledger_attempts(send_ids: Iterable[int]) -> int:
    with session_scope() as session:
        total = session.scalar(
            select(func.sum(Delivery.attempts)).where(Delivery.send_id.in_(list(send_ids)))
        )
    return int(total or 0)


def report(figures: Figures) -> Figures:
    UNREPORTED.append(figures)
    print(f"\nRELIABILITY {figures.line()}", flush=True)
    path = os.environ.get(RESULTS_VARIABLE)
    if path:
        with open(path, "a") as out:
            out.write(json.dumps(asdict(figures)) + "\n")
    return figures

"""Per-recipient cost of an 8-article digest: personalising a prepared email versus rendering,
inlining and building the message with the stdlib email package for every member.

    .venv/bin/python -m bench.bench_render [--members 5000] [--slow-members 100]

Target (issue 4): personalising is at least 50 times cheaper, and under 0.1 ms a recipient.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from newsletter.rendering import Recipient
from newsletter.rendering.build import prepare
from newsletter.rendering.emails import digest_spec
from newsletter.rendering.reference import reference_message
from newsletter.rendering.samples import sample_groups

TARGET_RATIO = 50
TARGET_FAST_MS = 0.1
NAMES = ["Ann Archer", "Bob Baker", "Siân Evans", "Zoë O'Brien", "", "Chidi Okafor"]


def recipients(count: int) -> list[Recipient]:
    return [
        Recipient(i, f"member{i}@example.com", NAMES[i % len(NAMES)], 1 + i % 3)
        for i in range(1, count + 1)
    ]


def per_recipient_ms(work: Callable[[Recipient], object], members: list[Recipient]) -> float:
    work(members[0])  # warm caches (signers, compiled templates) before timing
    start = time.perf_counter()
    for member in members:
        work(member)
    return (time.perf_counter() - start) * 1000 / len(members)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--slow-members", type=int, default=100)
    args = parser.parse_args(argv)

    spec = digest_spec("weekly", sample_groups(), send_id=1)
    articles = sum(len(group.articles) for group in spec.context["groups"])
    start = time.perf_counter()
    prepared = prepare(spec)
    prepare_ms = (time.perf_counter() - start) * 1000

    fast = per_recipient_ms(prepared.personalise, recipients(args.members))
    slow = per_recipient_ms(lambda r: reference_message(spec, r), recipients(args.slow_members))
    ratio = slow / fast
    met = ratio >= TARGET_RATIO and fast < TARGET_FAST_MS

    print(f"digest of {articles} articles; prepared once in {prepare_ms:.1f} ms")
    print(f"personalise a prepared digest:        {fast:8.4f} ms per recipient")
    print(f"render + inline + email build each:   {slow:8.4f} ms per recipient")
    print(f"ratio:                                {ratio:8.0f} x")
    print(f"target (>= {TARGET_RATIO}x and < {TARGET_FAST_MS} ms): {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

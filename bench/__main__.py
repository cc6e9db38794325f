"""`python -m bench` (`make bench`): our pipeline against the raw SMTP limit and the naive way,
side by side in one run, for N = 10,000 and 100,000 members.

    .venv/bin/python -m bench                  # the full run
    .venv/bin/python -m bench --sizes 2000     # a quick one while developing
    .venv/bin/python -m bench --sizes 100000 1000000 --setups production   # a million members

Order: the naive way once on a sample; then per N the limit (1 and 2 client processes; at most
LIMIT_MESSAGES of them, its rate scaled to N), ours embedded, ours production and ours
production with the web app under load, each against a fresh smtp-sink. Everything started is
stopped on the way out, on failure and on Ctrl-C too. Prints a table and writes
bench/results/<date>.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from bench import commands, limit, naive, ours, report, sink, web_load
from newsletter.config import get_settings

DEFAULT_SIZES = [10_000, 100_000]
NAIVE_SAMPLE = 2_000
LIMIT_CLIENTS = (1, 2)
# Handing over pre-rendered messages goes as fast for a million as for 100,000: beyond this,
# the limit is measured on this many and its rate stands for N (as the naive way's sample).
LIMIT_MESSAGES = 100_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES, metavar="N")
    parser.add_argument("--naive-sample", type=int, default=NAIVE_SAMPLE, metavar="N")
    parser.add_argument("--setups", nargs="*", default=list(ours.SETUPS), choices=ours.SETUPS)
    parser.add_argument("--keep", action="store_true", help="Keep the work folder (logs).")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the worker and `digest run` (slower)."
    )
    parser.add_argument(
        "--web-wait",
        type=float,
        nargs=2,
        default=web_load.WAIT_SECONDS,
        metavar=("MIN", "MAX"),
        help="Seconds each web client waits between its requests (default: %(default)s).",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.web_wait[0] <= args.web_wait[1]:
        parser.error("--web-wait MIN MAX: 0 <= MIN <= MAX")
    if min(args.sizes) < 1:
        parser.error("--sizes: each N must be at least 1")
    signal.signal(signal.SIGTERM, _interrupt)  # stop everything as on Ctrl-C
    sink.ensure_installed()
    code = report.code_version()  # compared at the end: another engineer may be changing it
    workdir = Path(tempfile.mkdtemp(prefix="newsletter-bench-"))
    _settings_for_this_process(workdir)
    failed = True
    try:
        naive_sample = min(args.naive_sample, max(args.sizes))
        wait = (args.web_wait[0], args.web_wait[1])
        results = run(sorted(args.sizes), naive_sample, args.setups, workdir, args.profile, wait)
        failed = False
    finally:
        if args.keep or failed:
            print(f"work folder (logs): {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    info = report.machine()
    print(report.table(results, info))
    if report.code_version() != code:
        print("\nwarning: the product's code changed during the run", file=sys.stderr)
    command = " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)])
    doc = report.document(results, info, command, code)
    path = report.write(doc, sorted(args.sizes), DEFAULT_SIZES)
    print(f"\nwritten: {path}")
    return 0


def run(
    sizes: list[int],
    naive_sample: int,
    setups: list[str],
    workdir: Path,
    profile: bool,
    web_wait: tuple[float, float],
) -> report.Results:
    now = datetime.now(UTC)
    _say(f"naive way: {naive_sample:,} members")
    with sink.smtp_sink(workdir) as naive_sink:
        naive_run = naive.run_naive(naive_sample, naive_sink.port, now)
    _expect(naive_sink, naive_sample, "naive")
    pool = limit.prerender(min(max(sizes), limit.POOL_SIZE), now)
    results = report.Results(sizes, sum(len(m.data) for m in pool) // len(pool), naive_run)
    for size in sizes:
        results.limits[size] = []
        messages = min(size, LIMIT_MESSAGES)
        for clients in LIMIT_CLIENTS:
            _say(f"limit: {messages:,} messages, {clients} client process(es)")
            with sink.smtp_sink(workdir) as limit_sink:
                bound = limit.run_limit(pool, messages, clients, limit_sink.port)
                results.limits[size].append(bound)
            _expect(limit_sink, messages, "limit")
        results.ours[size] = {}
        for setup in setups:
            _say(f"ours, {setup}: N={size:,}")
            folder = workdir / f"{setup}-{size}"
            run = ours.run_ours(setup, size, folder, now, profile, web_wait)
            alerted = run.alert.recipients if run.alert else 0
            _expect_count(run.sink_accepted, size + alerted, setup)
            results.ours[size][setup] = run
            _say(
                f"  {run.seconds:.1f} s, {run.rate:,.0f} messages/s, "
                f"first email after {run.first_email_seconds:.2f} s"
            )
    return results


def _settings_for_this_process(workdir: Path) -> None:
    """The naive way and the limit render here: their own var folder and key."""
    for name in [n for n in os.environ if n.startswith("NEWSLETTER_")]:
        del os.environ[name]
    os.environ["NEWSLETTER_VAR_DIR"] = str(workdir / "var")
    os.environ["NEWSLETTER_SECRET_KEY"] = commands.SECRET_KEY
    get_settings.cache_clear()


def _expect(stopped: sink.Sink, count: int, what: str) -> None:
    _expect_count(stopped.accepted(), count, what)


def _expect_count(accepted: int, count: int, what: str) -> None:
    if accepted != count:
        raise RuntimeError(f"{what}: the sink took {accepted:,} messages, not {count:,}")


def _say(text: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {text}", file=sys.stderr, flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    sys.exit(main())

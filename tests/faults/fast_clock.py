"""The product's Celery app for `celery beat`, on a fast clock: `-A tests.faults.fast_clock`.

Beat's schedule (the digests due, the minutely reminder check, scheduled sends, the recovery
sweep) is the product's own; only beat's idea of "now" runs SPEED times faster from a chosen
moment, and the checks that do the work due "now" are told that moment (`as_of`), as an
operator could. Claims, retries and the recovery sweep keep the real clock, so nothing is taken
from a worker early.

Set in the environment (processes.clock_env): FAST_CLOCK_FAKE_START (ISO 8601 with offset),
FAST_CLOCK_REAL_START (a time.time() value, the real moment the fake one corresponds to;
"first": when beat first asks the time; or "file:PATH": the clock stands at the fake start
until PATH exists, and runs from the moment it was made, so beats that took long to start on a
loaded machine all begin the fake day together),
FAST_CLOCK_SPEED, FAST_CLOCK_FAKE_END (optional: the clock stops there, so a beat slow to stop
on a loaded machine does not go on into the next day), and FAST_CLOCK_JUMPS
("after:seconds,...": that many real seconds after the start, the clock jumps by that many
seconds, forward or back, as a wall clock set by hand or a wrongly configured change of time
would).
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from pathlib import Path

from celery.beat import BeatLazyFunc

from workers.celery_app import app

TIMED_TASKS = {
    "newsletter.run_due_digests",
    "newsletter.run_reminders",
    "newsletter.start_due_sends",
    "newsletter.chase_acknowledgements",
}
LOOP_SECONDS = 1.0  # beat looks at its schedule at least this often (real seconds)


_first_asked: list[float] = []


def fake_now() -> datetime:
    start = datetime.fromisoformat(os.environ["FAST_CLOCK_FAKE_START"])
    elapsed = time.time() - _real_start()
    moved = sum(seconds for after, seconds in _jumps() if elapsed >= after)
    now = start + timedelta(seconds=elapsed * float(os.environ["FAST_CLOCK_SPEED"]) + moved)
    end = os.environ.get("FAST_CLOCK_FAKE_END")
    return min(now, datetime.fromisoformat(end)) if end else now


def _real_start() -> float:
    """FAST_CLOCK_REAL_START, or "first" for the moment beat first asks the time: a loaded
    machine takes seconds to start beat, hours of a fast fake day."""
    value = os.environ["FAST_CLOCK_REAL_START"]
    if value.startswith("file:"):
        return _started_by_file(Path(value.removeprefix("file:")))
    if value != "first":
        return float(value)
    if not _first_asked:
        _first_asked.append(time.time())
    return _first_asked[0]


def _started_by_file(path: Path) -> float:
    if not _first_asked:
        try:
            _first_asked.append(path.stat().st_mtime)
        except FileNotFoundError:
            return time.time()  # not started yet: the fake start, for now
    return _first_asked[0]


def _jumps() -> list[tuple[float, float]]:
    text = os.environ.get("FAST_CLOCK_JUMPS", "")
    pairs = (item.split(":") for item in text.split(",") if item)
    return [(float(after), float(seconds)) for after, seconds in pairs]


def fake_now_iso() -> str:
    return fake_now().isoformat()


def _app_now() -> datetime:
    return fake_now().astimezone(app.timezone)


app.now = _app_now  # type: ignore[method-assign]
for entry in app.conf.beat_schedule.values():
    if entry["task"] in TIMED_TASKS:
        entry["kwargs"] = {"as_of": BeatLazyFunc(fake_now_iso)}
app.conf.beat_max_loop_interval = LOOP_SECONDS
app.conf.beat_scheduler = "celery.beat:Scheduler"  # in memory: every run starts afresh

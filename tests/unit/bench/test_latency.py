"""Web latency under load: the load generator's records read back, cut to the send's run and
summed up per route as the bench table shows them."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bench.latency import (
    ROUTES,
    Request,
    percentiles,
    read_records,
    summarise,
    throughput_drop,
)


def test_percentiles_interpolate_between_the_nearest_values() -> None:
    cut = percentiles(float(ms) for ms in range(1, 101))  # 1..100 ms, in any order
    assert cut == pytest.approx((50.5, 95.05, 99.01))
    assert percentiles(reversed([float(ms) for ms in range(1, 101)])) == cut


def test_percentiles_of_one_request_and_of_none() -> None:
    assert percentiles([42.0]) == (42.0, 42.0, 42.0)
    assert percentiles([]) is None


def test_records_written_by_the_locustfile_are_read_back(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    with open(path, "w", newline="") as out:  # as bench/locustfile.py writes them
        csv.writer(out).writerows([("one-click", 1000.25, 12.5, 200), ("manage", 1001.0, 8, 0)])
    assert read_records(path) == [
        Request("one-click", 1000.25, 12.5, 200),
        Request("manage", 1001.0, 8.0, 0),
    ]


def test_only_requests_begun_while_the_send_ran_count() -> None:
    requests = [
        Request("dashboard", 99.0, 5000.0, 200),  # signing in and warming up: before
        *(Request("dashboard", 100.0 + i, 10.0 * (i + 1), 200) for i in range(10)),
        Request("dashboard", 111.0, 9000.0, 200),  # after the last message
    ]
    found = summarise(requests, since=100.0, until=110.0)
    dashboard = found["dashboard"]
    assert dashboard.requests == 10
    assert dashboard.p99_ms is not None and dashboard.p99_ms <= 100.0
    assert dashboard.per_second == pytest.approx(1.0)


def test_failures_and_kept_one_clicks_are_counted_and_failures_miss_the_target() -> None:
    requests = [
        Request("one-click", 100.0, 20.0, 200),
        Request("one-click", 100.5, 30.0, 202),  # kept: applied a moment later
        Request("one-click", 101.0, 15.0, 500),
        Request("one-click", 101.5, 60_000.0, 0),  # never answered
    ]
    one_click = summarise(requests, 100.0, 102.0)["one-click"]
    assert (one_click.requests, one_click.failures, one_click.kept) == (4, 2, 1)
    assert one_click.target_ms == 100.0
    assert one_click.held is False  # failures miss it, whatever the times


def test_a_route_is_held_when_p95_is_under_its_target_with_no_failures() -> None:
    fast = [Request("search", 100.0 + i / 100, 50.0, 200) for i in range(100)]
    slow = [Request("manage", 100.0 + i / 100, 150.0, 200) for i in range(100)]
    found = summarise(fast + slow, 100.0, 102.0)
    assert found["search"].held is True  # 50 < 300 ms
    assert found["manage"].held is False  # 150 >= 100 ms


def test_every_route_is_listed_even_without_requests_and_the_send_page_has_no_target() -> None:
    found = summarise([Request("sign-in", 50.0, 900.0, 200)], 100.0, 110.0)
    assert list(found) == list(ROUTES)
    assert found["send page"].requests == 0 and found["send page"].p95_ms is None
    assert found["send page"].held is None
    assert found["one-click"].held is False  # a route with a target and no requests misses it


def test_throughput_drop_is_the_share_of_the_rate_lost() -> None:
    assert throughput_drop(without=2000.0, under_load=1700.0) == pytest.approx(0.15)
    assert throughput_drop(without=2000.0, under_load=2100.0) == pytest.approx(-0.05)

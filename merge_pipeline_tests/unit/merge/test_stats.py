import threading

import httpx
import pytest

from merge_pipeline.merge import CallStats, MergeServerError
from merge_pipeline_tests.unit.merge.conftest import Reply, Script, json_response, page_body


def test_counts_calls_retries_429s_errors_and_bytes_exactly(harness, account, employee):
    replies: list[Reply] = [
        first := json_response({"detail": "slow"}, 429, {"Retry-After": "2"}),
        second := json_response({"detail": "down"}, 503),
        httpx.ConnectError("refused"),
        json_response(page_body([{"id": "1"}], "c2")),
        json_response(page_body([{"id": "2"}])),
    ]
    script = Script(replies)
    with harness.client(script) as client:
        pages = list(client.iter_pages(account, employee, modified_after=None))
    assert harness.stats.snapshot() == {
        "api_calls": 5,
        "retries": 3,
        "rate_limited": 1,
        "server_errors": 1,
        "transport_errors": 1,
        "bytes": len(first.content) + len(second.content) + sum(p.bytes for p in pages),
        "rate_limit_wait_s": 0.0,
        "backoff_wait_s": 2.0 + 1.0 + 2.0,  # max(0.5, Retry-After 2), then 1.0, then 2.0
        "cursor_cycles": 0,
    }
    assert sum(harness.clock.sleeps) == 5.0


def test_failed_call_counts_every_attempt(harness, account, employee):
    script = Script([json_response({"detail": "down"}, 500)])
    with harness.client(script) as client, pytest.raises(MergeServerError):
        list(client.iter_pages(account, employee, modified_after=None))
    snapshot = harness.stats.snapshot()
    assert (snapshot["api_calls"], snapshot["retries"], snapshot["server_errors"]) == (4, 3, 4)


def test_counters_are_exact_under_concurrent_increments():
    stats = CallStats()

    def work() -> None:
        for _ in range(1000):
            stats.count_call()
            stats.add_bytes(3)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (stats.api_calls, stats.bytes) == (8000, 24000)

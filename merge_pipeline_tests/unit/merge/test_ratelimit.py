"""The per-process limiter and the decision rule it shares with the PostgreSQL-backed one."""

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from merge_pipeline.catalog import load_catalog
from merge_pipeline.merge import (
    AccountCredentials,
    MergeRateLimited,
    RateLimiter,
    RateLimiterRegistry,
)
from merge_pipeline.merge.ratelimit import MERGE_WINDOW_S, slot_wait
from merge_pipeline_tests.unit.merge.conftest import (
    FakeClock,
    Script,
    json_response,
    make_settings,
    page_body,
)


def _never_more_than(limit: int, window: float, grants: list[float]) -> bool:
    grants = sorted(grants)
    return all(grants[i + limit] - grants[i] >= window - 1e-6 for i in range(len(grants) - limit))


class _Recording(RateLimiter):
    """Notes the clock reading of every grant (taken under the limiter's lock)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.grants: list[float] = []

    def _wait_needed(self, now: float) -> float:
        wait = super()._wait_needed(now)
        if wait <= 0:
            self.grants.append(now)
        return wait


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(1, 10),
    gaps=st.lists(st.floats(0, 30, allow_nan=False), min_size=1, max_size=60),
)
def test_never_grants_more_than_limit_per_window(limit, gaps):
    clock = FakeClock()
    limiter = _Recording(limit, 60.0, clock=clock.monotonic, sleep=clock.sleep)
    for gap in gaps:
        clock.now += gap  # the caller does other work between requests
        limiter.acquire()
    assert len(limiter.grants) == len(gaps)
    assert _never_more_than(limit, 60.0, limiter.grants)


def test_acquire_waits_for_the_oldest_grant_to_leave_the_window():
    clock = FakeClock()
    limiter = RateLimiter(2, 60.0, clock=clock.monotonic, sleep=clock.sleep)
    assert limiter.acquire() == 0.0
    clock.now += 10
    assert limiter.acquire() == 0.0
    assert limiter.acquire() == 50.0  # first grant was 60 s ago only at +50


def test_pause_holds_every_caller_until_it_ends():
    clock = FakeClock()
    limiter = RateLimiter(100, 60.0, clock=clock.monotonic, sleep=clock.sleep)
    limiter.pause_for(9)
    limiter.pause_for(3)  # a shorter pause never shortens the current one
    assert limiter.acquire() == 9.0


def test_threads_sharing_a_limiter_stay_under_the_limit():
    clock = FakeClock()
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            clock.now += seconds

    limiter = _Recording(5, 60.0, clock=clock.monotonic, sleep=sleep)

    def worker() -> None:
        for _ in range(10):
            limiter.acquire()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(limiter.grants) == 40
    assert _never_more_than(5, 60.0, limiter.grants)


def test_registry_shares_a_limiter_per_account_across_clients(harness):
    first = AccountCredentials("la-1", SecretStr("t1"))
    other = AccountCredentials("la-2", SecretStr("t2"))
    script = Script([json_response(page_body([]))])
    settings_ = make_settings(rate_limit_per_minute=2)
    employee_model = load_catalog().model("hris.Employee")
    with (
        harness.client(script, settings=settings_) as a,
        harness.client(script, settings=settings_) as b,
    ):
        list(a.iter_pages(first, employee_model, modified_after=None))
        list(b.iter_pages(first, employee_model, modified_after=None))
        assert harness.clock.sleeps == []
        list(b.iter_pages(other, employee_model, modified_after=None))  # another account's budget
        assert harness.clock.sleeps == []
        list(a.iter_pages(first, employee_model, modified_after=None))  # third call for la-1
    assert harness.clock.sleeps == [MERGE_WINDOW_S]  # a minute plus Merge's counting lag
    assert harness.stats.rate_limit_wait_s == MERGE_WINDOW_S


def test_registry_is_keyed_by_account_and_updates_the_limit():
    registry = RateLimiterRegistry()
    assert registry.for_account("a", 100) is registry.for_account("a", 100)
    assert registry.for_account("a", 100) is not registry.for_account("b", 100)
    assert registry.for_account("a", 400).limit == 400


def test_a_429_with_retry_after_pauses_the_account_for_other_callers(harness, account, employee):
    script = Script([json_response({"detail": "slow"}, 429, {"Retry-After": "30"})])
    with harness.client(script) as client:
        limiter = harness.registry.for_account(account.linked_account_id, 100)
        with pytest.raises(MergeRateLimited):
            list(client.iter_pages(account, employee, modified_after=None))
    # The last 429 paused the account; anyone else acquiring now waits for it to pass.
    assert limiter.acquire() == 30.0


@pytest.mark.parametrize(
    ("granted", "paused_until", "expected"),
    [
        ([], float("-inf"), 0.0),  # nothing granted yet
        ([-50.0], float("-inf"), 0.0),  # under the limit of 2
        ([-50.0, -20.0], float("-inf"), 10.0),  # full: the older grant leaves in 10 s
        ([-59.0, -50.0, -20.0], float("-inf"), 10.0),  # only the last ``limit`` grants matter
        ([], 7.0, 7.0),  # a pause wins over a free slot
        ([-50.0, -20.0], 3.0, 3.0),  # ... and is re-decided once it ends
    ],
)
def test_slot_wait_decides_from_the_last_limit_grants_and_the_pause(
    granted: list[float], paused_until: float, expected: float
) -> None:
    assert slot_wait(0.0, granted, 2, 60.0, paused_until) == expected

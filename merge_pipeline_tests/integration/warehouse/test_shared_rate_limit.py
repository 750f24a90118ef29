"""Merge's per-account rate limit kept in PostgreSQL: one budget for every process.

Two ``SharedRateLimits`` on one database stand for two processes (each would build its own);
a clock that moves only when slept on keeps these tests from waiting.
"""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from merge_pipeline.warehouse.pipeline_tables import rate_limit_windows
from merge_pipeline.warehouse.rate_limit import SharedRateLimits


class WallClock:
    """UTC time that advances only when someone sleeps; remembers every sleep."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> WallClock:
    return WallClock()


@pytest.fixture
def account() -> str:
    return f"la-{uuid.uuid4()}"


def _process(engine: sa.Engine, clock: WallClock, window_s: float = 60.0) -> SharedRateLimits:
    return SharedRateLimits(engine, window_s=window_s, clock=clock, sleep=clock.sleep)


def _stored_grants(engine: sa.Engine, account: str) -> list[datetime]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.select(rate_limit_windows.c.granted_at).where(
                    rate_limit_windows.c.linked_account_id == account
                )
            ).scalar_one()
        )


def test_acquire_waits_for_the_oldest_grant_to_leave_the_window(
    engine: sa.Engine, clock: WallClock, account: str
) -> None:
    limiter = _process(engine, clock).for_account(account, 2)
    assert limiter.acquire() == 0.0
    clock.now += timedelta(seconds=10)
    assert limiter.acquire() == 0.0
    assert limiter.acquire() == 50.0  # the first grant leaves the 60 s window 50 s from now


def test_two_processes_share_one_accounts_budget(
    engine: sa.Engine, clock: WallClock, account: str
) -> None:
    first, second = _process(engine, clock), _process(engine, clock)
    first.for_account(account, 3).acquire()
    first.for_account(account, 3).acquire()
    assert second.for_account(account, 3).acquire() == 0.0
    assert second.for_account(account, 3).acquire() == 60.0  # the three grants above count


def test_accounts_have_budgets_of_their_own(engine: sa.Engine, clock: WallClock) -> None:
    limits = _process(engine, clock)
    limits.for_account(f"la-{uuid.uuid4()}", 1).acquire()
    assert limits.for_account(f"la-{uuid.uuid4()}", 1).acquire() == 0.0


def test_a_pause_from_one_process_holds_back_the_others(
    engine: sa.Engine, clock: WallClock, account: str
) -> None:
    _process(engine, clock).for_account(account, 100).pause_for(30)
    _process(engine, clock).for_account(account, 100).pause_for(5)  # never shortens a pause
    assert _process(engine, clock).for_account(account, 100).acquire() == 30.0


def test_stored_grants_never_outlive_the_window(
    engine: sa.Engine, clock: WallClock, account: str
) -> None:
    limiter = _process(engine, clock, window_s=10.0).for_account(account, 5)
    for _ in range(40):
        limiter.acquire()
        clock.now += timedelta(seconds=1)
    stored = _stored_grants(engine, account)
    assert len(stored) == 5  # waits kept it at 5 per 10 s; older grants were pruned
    assert all(clock.now - moment <= timedelta(seconds=10) for moment in stored)


def test_without_an_injected_clock_the_database_clock_decides(
    engine: sa.Engine, account: str
) -> None:
    slept: list[float] = []
    limits = SharedRateLimits(engine, window_s=3600.0, sleep=slept.append)
    limiter = limits.for_account(account, 1)
    assert limiter.acquire() == 0.0
    assert 3000 < limiter.try_acquire() <= 3600  # about an hour: the grant is still in the window
    assert slept == []

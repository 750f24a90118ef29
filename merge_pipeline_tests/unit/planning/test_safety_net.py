"""The safety-net window: every account exactly once per night, spread over the ticks."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from merge_pipeline.planning.safety_net import SafetyNetWindow, account_slot, accounts_due

NIGHT = datetime(2026, 12, 1, tzinfo=UTC)


def _ticks(window: SafetyNetWindow, day: datetime = NIGHT) -> list[datetime]:
    start = day.replace(hour=window.start_hour)
    return [start + timedelta(minutes=window.tick_minutes * n) for n in range(window.ticks)]


@pytest.mark.parametrize(
    ("window", "cron"),
    [
        (SafetyNetWindow(), "*/10 0,1,2,3,4,5 * * *"),
        (SafetyNetWindow(start_hour=22, hours=4, tick_minutes=15), "*/15 0,1,22,23 * * *"),
        (SafetyNetWindow(hours=24, tick_minutes=5), "*/5 * * * *"),
        (SafetyNetWindow(hours=1, tick_minutes=60), "0 0 * * *"),
    ],
)
def test_cron_fires_every_tick_of_the_window(window: SafetyNetWindow, cron: str) -> None:
    assert window.cron == cron


def test_every_account_is_due_exactly_once_per_window() -> None:
    window = SafetyNetWindow()
    accounts = [f"account-{n}" for n in range(5_000)]
    due = Counter(a for tick in _ticks(window) for a in accounts_due(accounts, window, tick))
    assert set(due.values()) == {1} and len(due) == len(accounts)


def test_thousands_of_accounts_are_spread_evenly_over_the_ticks() -> None:
    """No tick starts more than twice its fair share (5,000 accounts over 36 ticks)."""
    window = SafetyNetWindow()
    accounts = [f"account-{n}" for n in range(5_000)]
    per_tick = [len(accounts_due(accounts, window, tick)) for tick in _ticks(window)]
    assert max(per_tick) < 2 * len(accounts) / window.ticks


def test_window_wrapping_midnight_counts_ticks_from_its_start() -> None:
    window = SafetyNetWindow(start_hour=23, hours=2, tick_minutes=30)
    at = [datetime(2026, 12, 1, 23, 0, tzinfo=UTC) + timedelta(minutes=30 * n) for n in range(4)]
    assert [window.tick_index(t) for t in at] == [0, 1, 2, 3]


def test_no_account_is_due_outside_the_window() -> None:
    window = SafetyNetWindow()
    assert accounts_due(["a", "b"], window, NIGHT.replace(hour=12)) == []


def test_one_slot_syncs_every_account_at_every_tick() -> None:
    window = SafetyNetWindow(hours=24, tick_minutes=5, slots=1)
    assert accounts_due(["b", "a"], window, NIGHT.replace(hour=17, minute=35)) == ["a", "b"]


def test_slot_of_an_account_is_stable_across_processes() -> None:
    """sha256, not Python's salted hash(): every code server must agree on the slot."""
    assert account_slot("3fa85f64-5717-4562-b3fc-2c963f66afa6", 36) == 6


@pytest.mark.parametrize(
    "settings",
    [{"start_hour": 24}, {"hours": 0}, {"tick_minutes": 7}, {"slots": 37}],
)
def test_invalid_window_is_refused(settings: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        SafetyNetWindow(**settings)

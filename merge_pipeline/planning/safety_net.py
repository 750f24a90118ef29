"""When the safety-net sync of each account runs: spread over a nightly window, deterministic.

Merge's guide syncs on webhooks and polls; the safety net catches whatever both missed. Starting
thousands of accounts in the same minute would flood Merge and the run queue, so every account
gets a stable slot (a hash of its id) and each tick of the window syncs one slot's accounts.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class SafetyNetWindow:
    """A daily window of ticks: ``start_hour`` (UTC) for ``hours``, a tick every ``tick_minutes``.

    ``slots`` splits the accounts into groups; tick *n* of the window syncs group ``n % slots``.
    The default (``slots = ticks per window``) syncs every account exactly once per window;
    ``slots = 1`` syncs every account at every tick (the demo's setting).
    """

    start_hour: int = 0
    hours: int = 6
    tick_minutes: int = 10
    slots: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.start_hour < 24:
            raise ValueError("start_hour must be 0-23")
        if not 1 <= self.hours <= 24:
            raise ValueError("hours must be 1-24")
        if not 1 <= self.tick_minutes <= 60 or 60 % self.tick_minutes:
            raise ValueError("tick_minutes must divide 60")
        if self.slots is not None and not 1 <= self.slots <= self.ticks:
            raise ValueError(f"slots must be 1-{self.ticks} (the ticks in the window)")

    @property
    def ticks(self) -> int:
        return self.hours * 60 // self.tick_minutes

    @property
    def slot_count(self) -> int:
        return self.slots or self.ticks

    @property
    def cron(self) -> str:
        """The schedule's cron string: every ``tick_minutes`` in the window's hours (UTC)."""
        hours = sorted((self.start_hour + h) % 24 for h in range(self.hours))
        hour_field = "*" if self.hours == 24 else ",".join(str(h) for h in hours)
        minute_field = "*" if self.tick_minutes == 1 else f"*/{self.tick_minutes}"
        if self.tick_minutes == 60:
            minute_field = "0"
        return f"{minute_field} {hour_field} * * *"

    def tick_index(self, at: datetime) -> int | None:
        """Which tick of the window ``at`` (UTC) is, or None outside the window."""
        minute_of_day = at.hour * 60 + at.minute
        offset = (minute_of_day - self.start_hour * 60) % MINUTES_PER_DAY
        if offset >= self.hours * 60:
            return None
        return offset // self.tick_minutes


def account_slot(account_id: str, slots: int) -> int:
    """A stable slot in ``range(slots)`` for an account (the same in every process and run)."""
    digest = hashlib.sha256(account_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % slots


def accounts_due(account_ids: Iterable[str], window: SafetyNetWindow, at: datetime) -> list[str]:
    """The accounts whose safety-net sync belongs to the tick at ``at`` (sorted)."""
    tick = window.tick_index(at)
    if tick is None:
        return []
    slot = tick % window.slot_count
    return sorted(a for a in account_ids if account_slot(a, window.slot_count) == slot)

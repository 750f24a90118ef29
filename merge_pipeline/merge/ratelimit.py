"""Staying under Merge's per-linked-account rate limit instead of bouncing off it.

Merge limits requests per linked account per minute (Launch 100, Professional 400, Enterprise 600;
CONTRACT.md §7). Every client in a process shares one limiter per account through the registry, so
threads syncing different models of the same account queue behind one budget. The limiter is a
sliding window: no window of ``window_s`` seconds ever holds more than ``limit`` acquisitions,
which is stricter than (so also safe for) a fixed per-minute counter on Merge's side.

These limiters are per process. Where a database is at hand the pipeline uses
``merge_pipeline.warehouse.rate_limit`` instead, which keeps the same window in PostgreSQL so
that every process and machine calling Merge for an account shares one budget; both follow the
protocols below and take their decisions from :func:`wait_for_slot`.
"""

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

Clock = Callable[[], float]
Sleep = Callable[[float], None]

#: Merge counts a request when it arrives, a little after we granted it; a window this much longer
#: than a minute keeps our count at or below Merge's even at the window's edge (measured: without
#: it, the first call after a full window drew one 429 from the sandbox).
MERGE_WINDOW_S = 61.0

#: Slack when comparing clock readings, so float rounding cannot leave a waiter sleeping 1e-15 s
#: forever on a clock that only moves when slept on (the tests' fake clock).
_EPSILON_S = 1e-9


class AccountRateLimiter(Protocol):
    """What the client needs of one account's limiter."""

    def acquire(self) -> float:
        """Block until a request may be sent; return the seconds spent waiting."""
        ...

    def pause_for(self, seconds: float) -> None:
        """Grant nothing for ``seconds`` (Merge answered 429 with Retry-After)."""
        ...


class RateLimits(Protocol):
    """Where the client gets each account's limiter (per process, or shared through a database)."""

    def for_account(self, linked_account_id: str, limit: int) -> AccountRateLimiter: ...


def wait_for_slot(
    now: float, limiting_grant: float | None, window_s: float, paused_until: float
) -> float:
    """Seconds until a request may be sent (0: now).

    ``limiting_grant`` is the ``limit``-th most recent grant (None while there are fewer): while
    it is inside the window, the window is full and the caller waits for it to leave. A pause
    (Retry-After) wins over everything.
    """
    if paused_until > now + _EPSILON_S:
        return paused_until - now
    if limiting_grant is None:
        return 0.0
    return max(0.0, limiting_grant + window_s - now)


def slot_wait(
    now: float, granted: Sequence[float], limit: int, window_s: float, paused_until: float
) -> float:
    """:func:`wait_for_slot` for ``granted``, the grant times of the last window, oldest first."""
    limiting = granted[-limit] if len(granted) >= limit else None
    return wait_for_slot(now, limiting, window_s, paused_until)


class RateLimiter:
    """A thread-safe sliding-window limiter with a pause switch for Retry-After."""

    def __init__(
        self,
        limit: int,
        window_s: float = 60.0,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window_s > 0")
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._granted: deque[float] = deque()
        self._paused_until = float("-inf")

    @property
    def limit(self) -> int:
        return self._limit

    def set_limit(self, limit: int) -> None:
        """Change the budget (a plan change); takes effect for the next acquisition."""
        if limit < 1:
            raise ValueError("limit must be >= 1")
        with self._lock:
            self._limit = limit

    def pause_for(self, seconds: float) -> None:
        """Grant nothing for ``seconds`` (Merge said Retry-After); never shortens a pause."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _wait_needed(self, now: float) -> float:
        """Seconds until a slot is free (0: take it now). Call with the lock held."""
        while self._granted and self._granted[0] <= now - self._window_s + _EPSILON_S:
            self._granted.popleft()
        return slot_wait(now, self._granted, self._limit, self._window_s, self._paused_until)

    def acquire(self) -> float:
        """Block until a request may be sent; returns the seconds spent waiting."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_needed(now)
                if wait <= 0:
                    self._granted.append(now)
                    return waited
            # Sleep outside the lock so other threads can pause us or take freed slots.
            self._sleep(wait)
            waited += wait


class RateLimiterRegistry:
    """One limiter per linked account id, created on first use and shared thereafter."""

    def __init__(
        self,
        *,
        window_s: float = MERGE_WINDOW_S,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self._window_s = window_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._limiters: dict[str, RateLimiter] = {}

    def for_account(self, linked_account_id: str, limit: int) -> RateLimiter:
        """The account's limiter; a different ``limit`` than before updates it (plan change)."""
        with self._lock:
            limiter = self._limiters.get(linked_account_id)
            if limiter is None:
                limiter = RateLimiter(limit, self._window_s, clock=self._clock, sleep=self._sleep)
                self._limiters[linked_account_id] = limiter
            elif limiter.limit != limit:
                limiter.set_limit(limit)
            return limiter

    def clear(self) -> None:
        with self._lock:
            self._limiters.clear()

    def _reset_after_fork(self) -> None:
        # A forked child inherits locks possibly held by parent threads that no longer exist.
        self._lock = threading.Lock()
        self._limiters = {}


_PROCESS_REGISTRY = RateLimiterRegistry()
os.register_at_fork(after_in_child=_PROCESS_REGISTRY._reset_after_fork)


def process_registry() -> RateLimiterRegistry:
    """The registry every client in this process shares unless a test injects its own."""
    return _PROCESS_REGISTRY

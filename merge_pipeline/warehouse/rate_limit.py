"""Merge's per-account rate limit, kept in PostgreSQL so every process shares one budget.

Merge counts the calls of a linked account, whoever makes them: Dagster runs, sensors and the CLI,
on one machine or several. A limiter per process would let two processes spend the budget twice,
so the window lives in ``merge_pipeline.rate_limit_windows``, one row per account:

* each acquisition is one short transaction: lock the account's row (``SELECT ... FOR UPDATE``),
  read PostgreSQL's clock *after* the lock (so grants are recorded in the order they happen, on
  one clock for every machine), drop grants older than the window, and either record this call
  or learn how long to wait. The decision is :func:`merge_pipeline.merge.ratelimit.slot_wait`,
  the same rule the per-process limiter follows;
* waiting happens after the commit, never while holding the lock;
* a 429's Retry-After sets ``paused_until``, which holds back every process's calls;
* a row holds at most the grants of one window (bounded), and only the linked account id:
  the account token never reaches this table.
"""

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Self

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from merge_pipeline.merge.ratelimit import MERGE_WINDOW_S, Sleep, in_window, slot_wait
from merge_pipeline.settings import Settings
from merge_pipeline.warehouse.pipeline_tables import rate_limit_windows

#: Reads "now"; tests inject one, otherwise PostgreSQL's ``clock_timestamp()`` is used.
WallClock = Callable[[], datetime]
_table = rate_limit_windows


def _offsets(moments: Sequence[datetime], now: datetime) -> list[float]:
    """Grant times as seconds relative to ``now`` (negative: in the past), oldest first."""
    return sorted((moment - now).total_seconds() for moment in moments)


class SharedRateLimits:
    """:class:`~merge_pipeline.merge.ratelimit.RateLimits` backed by PostgreSQL.

    Pass one to ``MergeClient(settings, rate_limiters=...)``; any number of clients, threads and
    processes on the same database then share each account's budget.
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        window_s: float = MERGE_WINDOW_S,
        clock: WallClock | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be > 0")
        self.engine = engine
        self.window_s = window_s
        self._clock = clock
        self._sleep = sleep

    @classmethod
    def from_settings(cls, engine: sa.Engine, settings: Settings) -> Self:
        return cls(engine, window_s=settings.rate_limit_window_s)

    def for_account(self, linked_account_id: str, limit: int) -> "SharedRateLimiter":
        if limit < 1:
            raise ValueError("a rate limit needs limit >= 1")
        return SharedRateLimiter(self, linked_account_id, limit)

    def now(self, connection: sa.Connection) -> datetime:
        """The time every process agrees on: the database's (or the injected clock's)."""
        if self._clock is not None:
            return self._clock()
        moment: datetime = connection.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
        return moment

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)


class SharedRateLimiter:
    """One account's budget as seen by one caller (cheap: the state is in the database)."""

    def __init__(self, limits: SharedRateLimits, linked_account_id: str, limit: int) -> None:
        self._limits = limits
        self.linked_account_id = linked_account_id
        self.limit = limit

    def __repr__(self) -> str:
        return f"SharedRateLimiter({self.linked_account_id!r}, limit={self.limit})"

    def acquire(self) -> float:
        """Block until a request may be sent; returns the seconds spent waiting."""
        waited = 0.0
        while True:
            wait = self.try_acquire()
            if wait <= 0:
                return waited
            self._limits.sleep(wait)
            waited += wait

    def try_acquire(self) -> float:
        """Take a slot now (returns 0) or say how long to wait first, in one transaction."""
        window_s = self._limits.window_s
        with self._limits.engine.begin() as connection:
            granted, paused_until = self._lock_row(connection)
            now = self._limits.now(connection)
            recent = in_window(_offsets(granted, now), 0.0, window_s)
            pause = (paused_until - now).total_seconds() if paused_until else float("-inf")
            wait = slot_wait(0.0, recent, self.limit, window_s, pause)
            if wait <= 0:
                kept = [now + timedelta(seconds=offset) for offset in recent]
                connection.execute(
                    sa.update(_table)
                    .where(_table.c.linked_account_id == self.linked_account_id)
                    .values(granted_at=[*kept, now])
                )
        return wait

    def pause_for(self, seconds: float) -> None:
        """No call for this account, from any process, for ``seconds``; never shortens a pause."""
        with self._limits.engine.begin() as connection:
            self._lock_row(connection)
            until = self._limits.now(connection) + timedelta(seconds=seconds)
            connection.execute(
                sa.update(_table)
                .where(_table.c.linked_account_id == self.linked_account_id)
                .values(paused_until=sa.func.greatest(_table.c.paused_until, until))
            )

    def _lock_row(self, connection: sa.Connection) -> tuple[list[datetime], datetime | None]:
        """Lock the account's row (creating it on first use); its grants and pause."""
        query = (
            sa.select(_table.c.granted_at, _table.c.paused_until)
            .where(_table.c.linked_account_id == self.linked_account_id)
            .with_for_update()
        )
        row = connection.execute(query).one_or_none()
        if row is None:
            connection.execute(
                insert(_table)
                .values(linked_account_id=self.linked_account_id)
                .on_conflict_do_nothing()
            )
            row = connection.execute(query).one()
        return list(row.granted_at), row.paused_until

"""Merge's per-account rate limit, kept in PostgreSQL so every process shares one budget.

Merge counts the calls of a linked account, whoever makes them: Dagster runs, sensors and the CLI,
on one machine or several. A limiter per process would let two processes spend the budget twice,
so the window lives in ``merge_pipeline.rate_limit_windows``, one row per account:

* each acquisition is one short transaction: lock the account's row (``SELECT ... FOR UPDATE``,
  which also picks out the ``limit``-th most recent grant), read PostgreSQL's clock *after* the
  lock (so grants are recorded in the order they happen, on one clock for every machine), then
  either record this call, dropping grants that left the window, or learn how long to wait.
  The decision is :func:`merge_pipeline.merge.ratelimit.wait_for_slot`, the rule the
  per-process limiter follows too; the array work stays in PostgreSQL (only one timestamp
  crosses the wire, however high the limit);
* waiting happens after the commit, never while holding the lock;
* a 429's Retry-After sets ``paused_until``, which holds back every process's calls;
* a row holds only the grants of one window (bounded), and only the linked account id:
  the account token never reaches this table.
"""

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Self

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from merge_pipeline.merge.ratelimit import MERGE_WINDOW_S, Sleep, wait_for_slot
from merge_pipeline.settings import Settings
from merge_pipeline.warehouse.pipeline_tables import rate_limit_windows

#: Reads "now"; tests inject one, otherwise PostgreSQL's ``clock_timestamp()`` is used.
WallClock = Callable[[], datetime]
_table = rate_limit_windows
_DATETIME = sa.DateTime(timezone=True)
_grant = sa.func.unnest(_table.c.granted_at).column_valued("grant")
_this_account = _table.c.linked_account_id == sa.bindparam("account")

# Built once (SQLAlchemy then reuses their compiled form): every Merge call runs them.
_SKIP = sa.bindparam("skip", type_=sa.Integer)
_LOCK_ROW = (
    sa.select(
        # fewer grants than the limit (the usual case): no limiting grant, and no sort to find it
        sa.case(
            (
                sa.func.cardinality(_table.c.granted_at) > _SKIP,
                sa.select(_grant).order_by(_grant.desc()).offset(_SKIP).limit(1).scalar_subquery(),
            ),
        ).label("limiting"),
        _table.c.paused_until,
    )
    .where(_this_account)
    .with_for_update(of=_table)
)
_CREATE_ROW = (
    insert(_table).values(linked_account_id=sa.bindparam("account")).on_conflict_do_nothing()
)
_DATABASE_NOW = sa.select(sa.func.clock_timestamp())
_RECORD_GRANT = (
    sa.update(_table)
    .where(_this_account)
    .values(
        granted_at=sa.func.array_append(
            sa.func.array(
                sa.select(_grant)
                .where(_grant > sa.bindparam("horizon", type_=_DATETIME))
                .order_by(_grant)
                .scalar_subquery()
            ),
            sa.bindparam("now", type_=_DATETIME),
        )
    )
)
_EXTEND_PAUSE = (
    sa.update(_table)
    .where(_this_account)
    .values(
        paused_until=sa.func.greatest(_table.c.paused_until, sa.bindparam("until", type_=_DATETIME))
    )
)


def _seconds_from(now: datetime, moment: datetime | None) -> float | None:
    return None if moment is None else (moment - now).total_seconds()


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
        moment: datetime = connection.execute(_DATABASE_NOW).scalar_one()
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
            limiting, paused_until = self._lock_row(connection)
            now = self._limits.now(connection)
            pause = _seconds_from(now, paused_until)
            wait = wait_for_slot(
                0.0,
                _seconds_from(now, limiting),
                window_s,
                float("-inf") if pause is None else pause,
            )
            if wait <= 0:
                horizon = now - timedelta(seconds=window_s)
                connection.execute(
                    _RECORD_GRANT,
                    {"account": self.linked_account_id, "horizon": horizon, "now": now},
                )
        return wait

    def pause_for(self, seconds: float) -> None:
        """No call for this account, from any process, for ``seconds``; never shortens a pause."""
        with self._limits.engine.begin() as connection:
            self._lock_row(connection)
            until = self._limits.now(connection) + timedelta(seconds=seconds)
            connection.execute(_EXTEND_PAUSE, {"account": self.linked_account_id, "until": until})

    def _lock_row(self, connection: sa.Connection) -> tuple[datetime | None, datetime | None]:
        """Lock the account's row (created on first use): its ``limit``-th latest grant, pause."""
        params = {"account": self.linked_account_id, "skip": self.limit - 1}
        row = connection.execute(_LOCK_ROW, params).one_or_none()
        if row is None:
            connection.execute(_CREATE_ROW, params)
            row = connection.execute(_LOCK_ROW, params).one()
        return row.limiting, row.paused_until

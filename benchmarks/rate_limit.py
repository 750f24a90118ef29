"""What the shared (PostgreSQL) rate limiter costs per call to Merge.

Every Merge call first takes a slot: one short transaction on the account's row. Measured with a
limit no run reaches, so the numbers are the bookkeeping alone; the default 600 acquisitions in
a 61 s window leave the row holding up to 600 grants, as an Enterprise account (600 calls a
minute) at full use would:

* ceiling: an empty transaction (``BEGIN; SELECT 1; COMMIT``) on the same engine;
* one process acquiring for one account;
* two processes acquiring for the same account at once (they queue on its row lock);
* for scale, the per-process limiter (no database).

Run: ``python -m benchmarks.rate_limit [--acquires N] [--server-url URL]``.
"""

import argparse
import multiprocessing
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from benchmarks.report import publish, ratio
from benchmarks.support import embedded_database
from merge_pipeline.merge.ratelimit import RateLimiter
from merge_pipeline.warehouse.migrate import migrate
from merge_pipeline.warehouse.rate_limit import SharedRateLimits
from merge_pipeline.warehouse.server import ensure_database, with_database

UNREACHABLE_LIMIT = 10**9


def _timed(count: int, action: Callable[[], object]) -> float:
    started = time.perf_counter()
    for _ in range(count):
        action()
    return time.perf_counter() - started


def _empty_transaction(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("SELECT 1"))


def _acquire_in_process(url: str, account: str, count: int) -> float:
    """Run in a child process: its own engine, as a second sync process would have."""
    engine = sa.create_engine(url)
    limiter = SharedRateLimits(engine).for_account(account, UNREACHABLE_LIMIT)
    limiter.acquire()  # connect and create the row outside the timing
    elapsed = _timed(count, limiter.acquire)
    engine.dispose()
    return elapsed


@contextmanager
def _database(server_url: str | None) -> Iterator[sa.Engine]:
    """A migrated throwaway database: on the given server, or on a private embedded one."""
    if server_url is None:
        with embedded_database("bench_rate_limit") as engine:
            yield engine
        return
    name = f"bench_rate_limit_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(ensure_database(server_url, name))
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        admin = sa.create_engine(
            with_database(server_url, "postgres"), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acquires", type=int, default=600)
    parser.add_argument(
        "--server-url", default=None, help="a PostgreSQL server to use (default: embedded)"
    )
    args = parser.parse_args(argv)
    count = args.acquires
    with _database(args.server_url) as engine:
        url = engine.url.render_as_string(hide_password=False)
        _empty_transaction(engine)
        ceiling = _timed(count, lambda: _empty_transaction(engine))
        alone = _acquire_in_process(url, f"bench-{uuid.uuid4()}", count)
        shared = f"bench-{uuid.uuid4()}"
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            pair = pool.starmap(_acquire_in_process, [(url, shared, count)] * 2)
    local = RateLimiter(UNREACHABLE_LIMIT, 61.0)
    in_memory = _timed(count, local.acquire)

    figures = [
        ("ceiling: empty transaction", ceiling, count),
        ("shared limiter, 1 process", alone, count),
        ("shared limiter, 2 processes, same account", max(pair), 2 * count),
        ("per-process limiter (no database)", in_memory, count),
    ]
    rows = [
        {
            "limiter": label,
            "ms/acquire": seconds / count * 1000,
            "acquires/s": calls / seconds,
            "x empty transaction": ratio(seconds, ceiling),
        }
        for label, seconds, calls in figures
    ]
    publish(
        "rate_limit",
        f"Rate-limit bookkeeping per Merge call ({count} acquires per process)",
        rows,
        ["limiter", "ms/acquire", "acquires/s", "x empty transaction"],
        parameters=vars(args),
        plot={"x": "limiter", "y": ["ms/acquire"], "ylabel": "ms per acquire"},
    )


if __name__ == "__main__":
    main()

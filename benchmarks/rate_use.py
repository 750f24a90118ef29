"""How much of a per-account rate limit a sync uses, with 1, 10 and 100 accounts at once.

The sandbox (its own process) enforces ``--limit`` calls per ``--window`` seconds per account
(Merge's per-minute limit with time scaled down; a sliding window, as Merge's); the engine's
shared (PostgreSQL) limiter is set to the same limit over ``window * 61 / 60`` seconds, the same
one-second-a-minute margin as the default 61 s. Every account syncs ``hris.Employee`` with small
pages, so each needs several windows of calls; the accounts run through the engine in this one
process (``sync_accounts``, up to 32 at a time), not through Dagster runs, which cost seconds of
start-up each on this machine (see ``benchmarks.dagster_overhead``). The engine's pool is sized
for the concurrency as ``warehouse_engine`` sizes it (``pool_size_for``): with SQLAlchemy's
default pool (5 + 10 overflow), used before, 91 of 100 accounts' syncs timed out waiting for a
connection at 64 at once.

Per account, from the sandbox's record of when each call arrived:

* ``use``: the span a perfect client needs for the calls made, ``(ceil(calls / limit) - 1) *
  window``, over the span from the first call to the last (1.0 = every window full; the margin
  caps it at 60/61 = 0.98);
* ``peak/limit``: the most calls that arrived within any one window, over the limit;
* 429s received (sandbox refusals) and failed syncs.

Run: ``python -m benchmarks.rate_use [--accounts 1 10 100] [--limit L] [--window W]``.
"""

import argparse
import math
import statistics
import time
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from benchmarks.report import publish
from benchmarks.support import bench_database
from merge_pipeline.catalog import load_catalog
from merge_pipeline.settings import Settings
from merge_pipeline.sync.engine import SyncOptions
from merge_pipeline.sync.runner import sync_accounts
from merge_pipeline.warehouse.accounts import LinkedAccount, save_account
from merge_pipeline.warehouse.database import pool_size_for
from merge_pipeline.warehouse.vault import TokenVault, generate_key
from merge_sandbox.testing import sandbox_process

API_KEY = "bench-api-key"
MODEL = "hris.Employee"
MARGIN = 61 / 60
#: accounts synced at once (each may hold two connections; PostgreSQL allows 100 by default)
MAX_CONCURRENCY = 32


def peak_in_window(moments: list[float], window: float) -> int:
    """The most arrivals within any ``window`` seconds (two pointers over sorted moments)."""
    peak, start = 0, 0
    for end, moment in enumerate(moments):
        while moment - moments[start] >= window:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


def account_use(moments: list[float], accepted: int, limit: int, window: float) -> float | None:
    """Ideal span over actual span for ``accepted`` calls (None with one window or less)."""
    ideal = (math.ceil(accepted / limit) - 1) * window
    actual = max(moments) - min(moments) if moments else 0.0
    return round(ideal / actual, 3) if ideal > 0 and actual > 0 else None


def measure(
    accounts: int, limit: int, window: float, records: int, page_size: int
) -> dict[str, Any]:
    key = generate_key()
    with (
        sandbox_process(
            accounts=1, records=1, api_key=API_KEY, seed=1416, extra_args=["--categories", "hris"]
        ) as sandbox,
        bench_database("bench_rate_use") as migrated,
    ):
        concurrency = min(MAX_CONCURRENCY, accounts)
        engine = sa.create_engine(  # sized as warehouse_engine sizes it for this concurrency
            migrated.url, pool_size=pool_size_for(concurrency), pool_pre_ping=True
        )
        vault = TokenVault(SecretStr(key))
        infos = [sandbox.admin.create_account("hris", records=records) for _ in range(accounts)]
        with engine.begin() as connection:
            for info in infos:
                save_account(
                    connection,
                    LinkedAccount(id=info.id, category="hris"),
                    SecretStr(info.account_token),
                    vault,
                )
        settings = Settings(
            api_key=SecretStr(API_KEY),
            token_encryption_key=SecretStr(key),
            base_url=sandbox.base_url,
            database_url=engine.url.render_as_string(hide_password=False),
            rate_limit_per_minute=limit,
            rate_limit_window_s=window * MARGIN,
            sync_concurrency=concurrency,
            page_size=page_size,
            _env_file=None,
        )
        sandbox.admin.rate_limit(per_minute=limit, window_seconds=window)
        model = load_catalog().model(MODEL)
        started = time.perf_counter()
        outcomes = sync_accounts(
            engine,
            settings,
            vault,
            {info.id: [model] for info in infos},
            options=SyncOptions(page_size=page_size),
        )
        elapsed = time.perf_counter() - started
        uses, peaks, calls = [], [], 0
        refused = sum(o.result.rate_limited for o in outcomes if o.result is not None)
        for info in infos:
            arrivals = sorted(moment for moment, _ in sandbox.admin.arrivals(info.id))
            result = next(o.result for o in outcomes if o.linked_account_id == info.id)
            accepted = len(arrivals) - (result.rate_limited if result else 0)
            calls += len(arrivals)
            use = account_use(arrivals, accepted, limit, window)
            if use is not None:
                uses.append(use)
            peaks.append(peak_in_window(arrivals, window))
        engine.dispose()
    failed = sum(1 for o in outcomes if not o.ok)
    return {
        "accounts": accounts,
        "limit": f"{limit}/{window:g}s",
        "calls": calls,
        "calls/account": round(calls / accounts, 1),
        "use median": statistics.median(uses) if uses else None,
        "use min": min(uses) if uses else None,
        "peak/limit": round(max(peaks) / limit, 2),
        "429s": refused,
        "failed syncs": failed,
        "seconds": round(elapsed, 1),
        "use ceiling": round(1 / MARGIN, 3),
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description="rate-limit use with many accounts")
    parser.add_argument("--accounts", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--limit", type=int, default=10, help="calls per window per account")
    parser.add_argument("--window", type=float, default=6.0, help="seconds (Merge: 60)")
    parser.add_argument("--records", type=int, default=1_000, help="per account (~10%% employees)")
    parser.add_argument("--page-size", type=int, default=2)
    args = parser.parse_args(argv)
    rows = [
        measure(n, args.limit, args.window, args.records, args.page_size) for n in args.accounts
    ]
    publish(
        "rate_use",
        f"Rate-limit use: {MODEL}, sandbox limit {args.limit} calls per {args.window:g} s per "
        f"account, engine's shared limiter the same over {args.window * MARGIN:.2f} s "
        "(engine in one process)",
        rows,
        [
            "accounts",
            "limit",
            "calls",
            "calls/account",
            "use median",
            "use min",
            "use ceiling",
            "peak/limit",
            "429s",
            "failed syncs",
            "seconds",
        ],
        parameters=vars(args),
        plot={
            "x": "accounts",
            "y": ["use median", "use min", "use ceiling"],
            "kind": "bar",
            "ylabel": "share of the limit used",
        },
    )
    return rows


if __name__ == "__main__":
    main()

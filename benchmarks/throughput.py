"""Initial sync throughput against its ceiling, the slower of bare fetching and bare storing
(issue #14.1).

Several linked accounts (categories in turn) in a ``merge-sandbox serve`` process, every model
of each synced from scratch. Three measurements of the same records in one run:

* fetch ceiling: a bare httpx client pages through every model of every account with the
  engine's page size and its account concurrency (``sync_concurrency`` accounts at once, each
  account's models in turn), decoding the JSON and storing nothing;
* the engine: ``merge-pipeline sync --all-accounts`` in a subprocess, as operators run it, into
  a fresh database;
* COPY ceiling: the rows the engine stored, exported untimed, then ``COPY``-ed back in one
  statement per table into tables ``LIKE`` the mirror tables (same columns, same keys and
  indexes), the fastest way PostgreSQL takes these rows.

The engine overlaps fetching and storing, so its ceiling is the slower of the two: the ratio is
its records/s over ``min(fetch, COPY)`` (target >= 0.7). The categories have no nested models,
so every call of both sides is a full page of the same list path.

With ``--latency`` the sandbox holds every API response that long (the network to Merge); those
variants use ``--latency-records`` (fewer records: 1M records at 500 ms a page would take hours)
and report the same ratio. CPU seconds are given for the fetcher, the sandbox and the engine, so
one can tell whether the sandbox, rather than the engine, is what a ceiling measures.

Run: ``python -m benchmarks.throughput [--records N] [--accounts A] [--latency S ...]``.
"""

import argparse
import io
import math
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import psutil
import sqlalchemy as sa
from pydantic import SecretStr

from benchmarks.child import run_cli
from benchmarks.report import publish, ratio
from benchmarks.support import bench_database, store_tokens
from merge_pipeline.catalog import CommonModel, load_catalog
from merge_pipeline.settings import Settings
from merge_pipeline.warehouse.mirror_tables import mirror_tables
from merge_pipeline.warehouse.vault import TokenVault, generate_key
from merge_sandbox.admin import AccountInfo
from merge_sandbox.testing import sandbox_process

API_KEY = "bench-api-key"
CATEGORIES = ("hris", "filestorage")  # no nested models: every call is a page of a list path
PAGE_SIZE = Settings.model_fields["page_size"].default
CONCURRENCY = Settings.model_fields["sync_concurrency"].default
SEED = 3001


@dataclass(frozen=True)
class Measured:
    records: int
    seconds: float
    cpu_s: float | None = None
    sandbox_cpu_s: float | None = None


def _models(category: str) -> list[CommonModel]:
    models = list(load_catalog().category(category))
    assert not any(m.is_nested for m in models), f"{category} has nested models"
    return models


def _page_account(base_url: str, account: AccountInfo) -> int:
    """Records of every model of one account, paged in turn with a bare client."""
    headers = {"Authorization": f"Bearer {API_KEY}", "X-Account-Token": account.account_token}
    records = 0
    with httpx.Client(headers=headers, timeout=120) as client:
        for model in _models(account.category):
            query: dict[str, Any] = {"page_size": PAGE_SIZE, "include_deleted_data": "true"}
            while True:
                response = client.get(base_url + model.list_path, params=query)
                body = response.raise_for_status().json()
                records += len(body["results"])
                if not body["next"]:
                    break
                query["cursor"] = body["next"]
    return records


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def fetch_ceiling(base_url: str, accounts: Sequence[AccountInfo], sandbox_pid: int) -> Measured:
    """Bare paging of every account, ``CONCURRENCY`` accounts at once (as the engine runs)."""
    sandbox = psutil.Process(sandbox_pid)
    me = psutil.Process()
    sandbox_before, me_before = _cpu(sandbox), _cpu(me)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        records = sum(pool.map(lambda a: _page_account(base_url, a), accounts))
    seconds = time.perf_counter() - started
    return Measured(records, seconds, _cpu(me) - me_before, _cpu(sandbox) - sandbox_before)


def engine_sync(
    base_url: str, database_url: str, key: str, sandbox_pid: int
) -> tuple[Measured, float]:
    """``merge-pipeline sync --all-accounts`` in a child process; also its peak RSS (MiB)."""
    environment = {
        **os.environ,
        "MERGE_PIPELINE_API_KEY": API_KEY,
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": key,
        "MERGE_PIPELINE_BASE_URL": base_url,
        "MERGE_PIPELINE_DATABASE_URL": database_url,
        "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": "10000000",
    }
    sandbox = psutil.Process(sandbox_pid)
    sandbox_before = _cpu(sandbox)
    seconds, rss, cpu_s = run_cli(environment, "sync", "--all-accounts", "--no-progress")
    return Measured(0, seconds, cpu_s, _cpu(sandbox) - sandbox_before), rss


def _mirror_tables_with_rows(connection: sa.Connection) -> list[tuple[sa.Table, int]]:
    found = []
    for table in (mirror_tables()[m] for c in CATEGORIES for m in _models(c)):
        count = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        if count:
            found.append((table, int(count)))
    return found


def copy_ceiling(engine: sa.Engine) -> Measured:
    """COPY the stored rows back into ``LIKE`` tables, one statement per table (timed part)."""
    with engine.connect() as connection:
        tables = _mirror_tables_with_rows(connection)
    raw = engine.raw_connection()
    seconds = 0.0
    records = 0
    try:
        cursor = raw.cursor()
        cursor.execute("CREATE SCHEMA bench_copy")
        for table, count in tables:
            source = f'"{table.schema}"."{table.name}"'
            target = f'bench_copy."{table.schema}_{table.name}"'
            cursor.execute(f"CREATE TABLE {target} (LIKE {source} INCLUDING ALL)")
            buffer = io.BytesIO()
            cursor.copy_expert(f"COPY {source} TO STDOUT", buffer)
            raw.commit()
            buffer.seek(0)
            started = time.perf_counter()
            cursor.copy_expert(f"COPY {target} FROM STDIN", buffer)
            raw.commit()
            seconds += time.perf_counter() - started
            records += count
        cursor.execute("DROP SCHEMA bench_copy CASCADE")
        raw.commit()
    finally:
        raw.close()
    return Measured(records, seconds)


def _stored(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return sum(count for _, count in _mirror_tables_with_rows(connection))


def run_variant(records: int, accounts: int, latency: float) -> list[dict[str, Any]]:
    """One sandbox, one fresh database: the three measurements and their rows."""
    key = generate_key()
    per_account = math.ceil(records / accounts)
    with (
        sandbox_process(accounts=0, records=0, seed=SEED, api_key=API_KEY) as sandbox,
        bench_database("bench_throughput") as engine,
    ):
        started = time.perf_counter()
        infos = [
            sandbox.admin.create_account(CATEGORIES[n % len(CATEGORIES)], records=per_account)
            for n in range(accounts)
        ]
        generate_s = time.perf_counter() - started
        store_tokens(engine, infos, TokenVault(SecretStr(key)))
        expected = sum(info.record_count for info in infos)
        if latency:  # stands for the network between us and Merge: API calls only
            sandbox.admin.slow_responses(latency, count=None, path_contains="/v1/")
        fetch = fetch_ceiling(sandbox.base_url, infos, sandbox.process.pid)
        sandbox_rss = psutil.Process(sandbox.process.pid).memory_info().rss / 2**20
        database_url = engine.url.render_as_string(hide_password=False)
        sync, sync_rss = engine_sync(sandbox.base_url, database_url, key, sandbox.process.pid)
        stored = _stored(engine)
        copy = copy_ceiling(engine)
    assert fetch.records == stored, f"fetched {fetch.records}, mirrored {stored}"
    sync = Measured(stored, sync.seconds, sync.cpu_s, sync.sandbox_cpu_s)
    ceiling = min(fetch.records / fetch.seconds, copy.records / copy.seconds)
    label = f"{latency * 1000:.0f} ms" if latency else "no latency"
    rows = []
    for what, measured in (("fetch ceiling", fetch), ("COPY ceiling", copy), ("engine", sync)):
        rate = measured.records / measured.seconds
        rows.append(
            {
                "latency": label,
                "run": f"{what}, {label}",
                "records": measured.records,
                "seconds": measured.seconds,
                "records/s": rate,
                "/ ceiling": ratio(rate, ceiling),
                "CPU s": measured.cpu_s,
                "sandbox CPU s": measured.sandbox_cpu_s,
                "peak RSS MiB": sync_rss if what == "engine" else None,
            }
        )
    rows[0]["setup"] = (
        f"{accounts} accounts, {expected} records generated in {generate_s:.0f} s, "
        f"sandbox RSS after serving them all {sandbox_rss:.0f} MiB"
    )
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description="Initial sync throughput against its ceiling.")
    parser.add_argument("--records", type=int, default=1_000_000, help="records, all accounts")
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument(
        "--latency",
        type=float,
        nargs="*",
        default=[0.0, 0.1, 0.5],
        help="seconds the sandbox adds to every API response; one run each",
    )
    parser.add_argument(
        "--latency-records", type=int, default=40_000, help="records of the latency runs"
    )
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for latency in args.latency:
        records = args.latency_records if latency else args.records
        variant = run_variant(records, args.accounts, latency)
        notes.append(f"{variant[0]['latency']}: {variant[0].pop('setup')}")
        rows += variant
    engines = [r for r in rows if r["run"] == "engine"]
    notes += [f"engine / ceiling, {r['latency']}: {r['/ ceiling']}" for r in engines]
    publish(
        "throughput",
        f"initial sync of {args.accounts} accounts ({', '.join(CATEGORIES)} in turn), every "
        "model, vs min(bare fetch, bare COPY) of the same records",
        rows,
        [
            "run",
            "records",
            "seconds",
            "records/s",
            "/ ceiling",
            "CPU s",
            "sandbox CPU s",
            "peak RSS MiB",
        ],
        parameters=vars(args),
        plot={"x": "run", "y": ["records/s"], "ylabel": "records/s", "log": True},
        notes=notes,
    )
    return rows


if __name__ == "__main__":
    main()

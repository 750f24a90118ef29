"""Initial sync throughput and memory, against the ceiling of merely paging the same records.

The sandbox runs as its own process (``merge-sandbox serve``). Three measurements in one run:

* ceiling: a bare httpx client pages through the model (JSON decoded, nothing stored): a sync
  can never be faster than fetching;
* the sync itself, ``merge-pipeline sync`` in a subprocess (what operators run), into a fresh
  embedded PostgreSQL; its peak RSS is the child's own ``VmHWM`` (``benchmarks.peak_rss``:
  ``wait4``'s figure would include this process's size at fork);
* the same sync of a model ten times smaller, to show memory does not grow with the model.

Run: ``python -m benchmarks.sync [--records N]`` (``N`` records of ``hris.Employee``).
"""

import argparse
import os
import time
from typing import Any

import httpx
import sqlalchemy as sa
from pydantic import SecretStr

from benchmarks.child import run_cli
from benchmarks.report import publish, ratio
from benchmarks.support import bench_database
from merge_pipeline.warehouse.accounts import LinkedAccount, save_account
from merge_pipeline.warehouse.vault import TokenVault, generate_key
from merge_sandbox.admin import AccountInfo
from merge_sandbox.testing import sandbox_process

MODEL = "hris.Employee"
PATH = "/hris/v1/employees"
API_KEY = "bench-api-key"


def page_everything(base_url: str, token: str) -> tuple[int, float]:
    """(records, seconds) to page through the model with a bare client."""
    headers = {"Authorization": f"Bearer {API_KEY}", "X-Account-Token": token}
    query: dict[str, Any] = {"page_size": 100, "include_deleted_data": "true"}
    records = 0
    started = time.perf_counter()
    with httpx.Client(headers=headers, timeout=60) as client:
        while True:
            body = client.get(base_url + PATH, params=query).raise_for_status().json()
            records += len(body["results"])
            if not body["next"]:
                return records, time.perf_counter() - started
            query["cursor"] = body["next"]


def run_cli_sync(
    base_url: str, database_url: str, key: str, account: AccountInfo
) -> tuple[float, float, float]:
    """(seconds, peak RSS in MiB, CPU seconds) of ``merge-pipeline sync`` for one account."""
    environment = {
        **os.environ,
        "MERGE_PIPELINE_API_KEY": API_KEY,
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": key,
        "MERGE_PIPELINE_BASE_URL": base_url,
        "MERGE_PIPELINE_DATABASE_URL": database_url,
        "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": "1000000",
    }
    return run_cli(environment, "sync", "--account", account.id, "--model", MODEL, "--no-progress")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Initial sync against the paging ceiling.")
    parser.add_argument("--records", type=int, default=100_000, help="employees to sync")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds the sandbox adds to every response"
    )
    args = parser.parse_args(argv)
    key = generate_key()
    # the sandbox spreads an hris account's records over 16 models, ~10% of them employees
    with (
        sandbox_process(
            accounts=2, records=1, api_key=API_KEY, extra_args=["--categories", "hris"]
        ) as sandbox,
        bench_database("bench_sync") as engine,
    ):
        big = sandbox.admin.create_account("hris", records=args.records * 10)
        small = sandbox.admin.create_account("hris", records=args.records)
        vault = TokenVault(SecretStr(key))
        with engine.begin() as connection:
            for account in (big, small):
                save_account(
                    connection,
                    LinkedAccount(id=account.id, category="hris"),
                    SecretStr(account.account_token),
                    vault,
                )
        database_url = engine.url.render_as_string(hide_password=False)
        if args.latency:  # stands for the network between us and Merge
            sandbox.admin.slow_responses(args.latency, count=None)
        records, ceiling_s = page_everything(sandbox.base_url, big.account_token)
        sync_s, rss, cpu_s = run_cli_sync(sandbox.base_url, database_url, key, big)
        small_records = small.models[MODEL]
        small_s, small_rss, _ = run_cli_sync(sandbox.base_url, database_url, key, small)
        with engine.connect() as connection:
            stored = connection.execute(
                sa.text("SELECT count(*) FROM hris.employee WHERE linked_account_id = :a"),
                {"a": big.id},
            ).scalar_one()
    assert stored == records, f"mirrored {stored} of {records}"
    latency = f", {args.latency * 1000:.0f} ms added per response" if args.latency else ""
    rows = [
        {
            "run": "ceiling: bare paging",
            "records": records,
            "seconds": ceiling_s,
            "records/s": records / ceiling_s,
            "x ceiling time": 1.0,
        },
        {
            "run": "merge-pipeline sync",
            "records": records,
            "seconds": sync_s,
            "records/s": records / sync_s,
            "x ceiling time": ratio(sync_s, ceiling_s),
            "CPU s": cpu_s,
            "us CPU/record": cpu_s / records * 1e6,
            "peak RSS MiB": rss,
        },
        {
            "run": "merge-pipeline sync, 1/10 the records",
            "records": small_records,
            "seconds": small_s,
            "records/s": small_records / small_s,
            "peak RSS MiB": small_rss,
        },
    ]
    publish(
        "sync_latency" if args.latency else "sync",
        f"initial sync of {records} {MODEL} records (sandbox in its own process{latency})",
        rows,
        [
            "run",
            "records",
            "seconds",
            "records/s",
            "x ceiling time",
            "CPU s",
            "us CPU/record",
            "peak RSS MiB",
        ],
        parameters=vars(args),
        plot={"x": "run", "y": ["records/s"], "ylabel": "records/s"},
        notes=[
            f"peak RSS {rss:.0f} MiB for {records} records, {small_rss:.0f} MiB for "
            f"{small_records} (the small sync's rate includes process start-up)"
        ],
    )


if __name__ == "__main__":
    main()

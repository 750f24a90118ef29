"""Incremental cost and memory as a table grows 10x and 100x, with the same changes.

Three hris accounts of ``N``, ``10 N`` and ``100 N`` records (the sandbox spreads them over the
16 hris models). Each is mirrored by ``merge-pipeline sync`` in a subprocess (what operators
run), then ``--changes`` records change (the same number in each account, spread over its models
by the sandbox) and the account is synced again. Measured per account: the initial and the
incremental sync's wall time, calls (the sandbox's count) and peak RSS of the sync process
(``VmHWM``, the child's own peak: see ``benchmarks.peak_rss``). Ratios are against the smallest
account: the incremental figures and the peak RSS should stay flat as the tables grow.

Run: ``python -m benchmarks.scaling [--records N] [--changes K]``.
"""

import argparse
import os
from typing import Any

from pydantic import SecretStr

from benchmarks.child import run_cli
from benchmarks.report import publish, ratio
from benchmarks.support import bench_database
from merge_pipeline.warehouse.accounts import LinkedAccount, save_account
from merge_pipeline.warehouse.vault import TokenVault, generate_key
from merge_sandbox.testing import sandbox_process

API_KEY = "bench-api-key"
FACTORS = (1, 10, 100)
#: moved on the sandbox clock after the changes, past the cursor overlap (60 s)
CLOCK_STEP_S = 180.0


def cli_sync(environment: dict[str, str], account_id: str) -> tuple[float, float, float]:
    """(seconds, peak RSS in MiB, CPU seconds) of ``merge-pipeline sync`` of one account."""
    return run_cli(environment, "sync", "--account", account_id, "--no-progress")


def run(records: int, changes: int) -> list[dict[str, Any]]:
    key = generate_key()
    rows: list[dict[str, Any]] = []
    with (
        sandbox_process(
            accounts=1, records=1, api_key=API_KEY, seed=1417, extra_args=["--categories", "hris"]
        ) as sandbox,
        bench_database("bench_scaling") as engine,
    ):
        vault = TokenVault(SecretStr(key))
        environment = {
            **os.environ,
            "MERGE_PIPELINE_API_KEY": API_KEY,
            "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": key,
            "MERGE_PIPELINE_BASE_URL": sandbox.base_url,
            "MERGE_PIPELINE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": "1000000",
        }
        for factor in FACTORS:
            info = sandbox.admin.create_account("hris", records=records * factor)
            with engine.begin() as connection:
                save_account(
                    connection,
                    LinkedAccount(id=info.id, category="hris"),
                    SecretStr(info.account_token),
                    vault,
                )
            sandbox.admin.reset_request_counts()
            initial_s, initial_rss, _ = cli_sync(environment, info.id)
            initial_calls = sandbox.admin.count_requests(info.id)
            sandbox.admin.mutate(info.id, updates=changes)
            sandbox.admin.advance_clock(CLOCK_STEP_S)
            sandbox.admin.reset_request_counts()
            incremental_s, incremental_rss, incremental_cpu = cli_sync(environment, info.id)
            rows.append(
                {
                    "records": info.record_count,
                    "changed": changes,
                    "initial s": initial_s,
                    "initial calls": initial_calls,
                    "initial RSS MiB": initial_rss,
                    "incr s": incremental_s,
                    "incr CPU s": incremental_cpu,
                    "incr calls": sandbox.admin.count_requests(info.id),
                    "incr RSS MiB": incremental_rss,
                }
            )
    base = rows[0]
    for row in rows:
        row["size x"] = ratio(row["records"], base["records"])
        row["incr s x"] = ratio(row["incr s"], base["incr s"])
        row["incr calls x"] = ratio(row["incr calls"], base["incr calls"])
        row["initial RSS x"] = ratio(row["initial RSS MiB"], base["initial RSS MiB"])
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description="incremental cost and RSS as tables grow")
    parser.add_argument("--records", type=int, default=1_000, help="the smallest account")
    parser.add_argument("--changes", type=int, default=50, help="records changed per account")
    args = parser.parse_args(argv)
    rows = run(args.records, args.changes)
    publish(
        "scaling",
        f"Scaling: hris accounts of 1x, 10x, 100x {args.records} records, {args.changes} records "
        "changed in each (merge-pipeline sync in a subprocess; ratios against 1x)",
        rows,
        [
            "records",
            "size x",
            "changed",
            "initial s",
            "initial calls",
            "initial RSS MiB",
            "initial RSS x",
            "incr s",
            "incr s x",
            "incr CPU s",
            "incr calls",
            "incr calls x",
            "incr RSS MiB",
        ],
        parameters=vars(args),
        plot={
            "x": "records",
            "y": ["incr s x", "incr calls x", "initial RSS x", "size x"],
            "kind": "line",
            "log": True,
            "ylabel": "ratio to the smallest (log)",
        },
    )
    return rows


if __name__ == "__main__":
    main()

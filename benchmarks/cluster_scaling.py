"""Bringing N accounts up to date with 1, 2 and 4 Celery workers (the cluster profile).

For each worker count: a fresh warehouse and Dagster instance (``deploy/celery/dagster.yaml``),
N new hris accounts in the sandbox, and that many workers (concurrency 1 each) on the local
Redis broker. The discovery sensor requests every account's initial sync at its first tick;
the figure is the makespan, from the first run's start to the last run's end.

The sandbox enforces Merge's per-account limit scaled in time (``--limit`` calls per
``--window`` seconds instead of per minute) and the pipeline's shared limiter keeps to it
(its window a quarter longer, as 61 s is to Merge's minute plus a margin). So no account can
sync faster than ``calls / (limit / pipeline window)``: that is the rate-limit bound of one
account, and with W workers the bound of the whole is ``ceil(N / W)`` accounts back to back.

Run: ``python -m benchmarks.cluster_scaling [--accounts N] [--records R] [--workers 1 2 4]``
(pages of 10 records by default, so each account needs tens of calls and the limit binds)
(needs Redis on 127.0.0.1:6379; a few minutes).
"""

import argparse
import math
import os
import shutil
import time
from typing import Any

import dagster as dg
import sqlalchemy as sa
from pydantic import SecretStr

from benchmarks.report import publish, ratio
from benchmarks.support import bench_database
from merge_pipeline.warehouse.accounts import LinkedAccount, save_account
from merge_pipeline.warehouse.pipeline_tables import sync_runs
from merge_pipeline.warehouse.vault import TokenVault, generate_key
from merge_pipeline_tests.cluster.celery_stack import (
    broker_unavailable,
    celery_environment,
    sized_instance,
    workers,
)
from merge_pipeline_tests.dagster_stack import FINISHED, DagsterStack, dagster_stack
from merge_sandbox.admin import SandboxAdmin
from merge_sandbox.testing import running_sandbox

API_KEY = "bench-api-key"
#: the pipeline's window against the sandbox's: room for a call's way to the server
WINDOW_MARGIN = 1.25


def _wait_all_finished(stack: DagsterStack, accounts: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(any(r.status in FINISHED for r in stack.runs_of(a)) for a in accounts):
            return
        time.sleep(0.5)
    raise TimeoutError("not every account's initial sync finished")


def _round(
    admin: SandboxAdmin, base_url: str, args: argparse.Namespace, worker_count: int
) -> dict[str, Any]:
    key = generate_key()
    with bench_database(f"bench_cluster_{worker_count}") as engine:
        vault = TokenVault(SecretStr(key))
        accounts = []
        for _ in range(args.accounts):
            info = admin.create_account("hris", records=args.records)
            with engine.begin() as connection:
                save_account(
                    connection,
                    LinkedAccount(id=info.id, category="hris"),
                    SecretStr(info.account_token),
                    vault,
                )
            accounts.append(info.id)
        environment = {
            **celery_environment(),
            "MERGE_PIPELINE_API_KEY": API_KEY,
            "MERGE_PIPELINE_BASE_URL": base_url,
            "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": key,
            "MERGE_PIPELINE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": str(args.limit),
            "MERGE_PIPELINE_RATE_LIMIT_WINDOW_S": str(args.window * WINDOW_MARGIN),
            "MERGE_PIPELINE_PAGE_SIZE": str(args.page_size),
            "MERGE_PIPELINE_DISCOVERY_INTERVAL_S": "10",
            "MERGE_PIPELINE_SYNC_STATUS_INTERVAL_S": "86400",
            "MERGE_PIPELINE_HEALTH_INTERVAL_S": "86400",
        }
        instance_yaml = sized_instance(worker_count)
        with dagster_stack(engine.url, environment, instance_yaml=instance_yaml) as stack:
            shutil.rmtree(instance_yaml.parent)  # the stack holds its own copy
            with workers(stack, worker_count):
                _wait_all_finished(stack, accounts, timeout_s=1800)
            records = stack.instance.get_run_records(filters=dg.RunsFilter(statuses=list(FINISHED)))
            failed = [r for r in records if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]
            starts = [r.start_time for r in records if r.start_time]
            ends = [r.end_time for r in records if r.end_time]
            run_s = [r.end_time - r.start_time for r in records if r.start_time and r.end_time]
        with engine.connect() as connection:
            calls, throttled = connection.execute(
                sa.select(
                    sa.func.sum(sync_runs.c.stats["api_calls"].as_integer()),
                    sa.func.sum(sync_runs.c.stats["rate_limited"].as_integer()),
                )
            ).one()
    per_account_calls = (calls or 0) / args.accounts
    account_bound_s = per_account_calls / (args.limit / (args.window * WINDOW_MARGIN))
    bound_s = math.ceil(args.accounts / worker_count) * account_bound_s
    makespan = max(ends) - min(starts)
    return {
        "workers": worker_count,
        "makespan s": makespan,
        "mean run s": sum(run_s) / len(run_s),
        "calls / account": per_account_calls,
        "account bound s": account_bound_s,
        "bound s": bound_s,
        "bound / makespan": ratio(bound_s, makespan),
        "429s": throttled or 0,
        "failed runs": len(failed),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Cluster scaling over Celery workers")
    parser.add_argument("--accounts", type=int, default=8)
    parser.add_argument("--records", type=int, default=600, help="records per hris account")
    parser.add_argument(
        "--page-size", type=int, default=10, help="small pages: more calls, so the limit binds"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--limit", type=int, default=10, help="calls per window per account")
    parser.add_argument("--window", type=float, default=2.0, help="the sandbox's window, s")
    args = parser.parse_args(argv)
    reason = broker_unavailable()
    if reason is not None:
        print(f"cluster_scaling skipped: {reason}")
        return
    with running_sandbox(accounts=0, records=0, api_key=API_KEY, seed=5011) as sandbox:
        sandbox.admin.rate_limit(per_minute=args.limit, window_seconds=args.window)
        rows = [_round(sandbox.admin, sandbox.base_url, args, w) for w in args.workers]
    base = rows[0]["makespan s"]
    for row in rows:
        row["speed-up"] = ratio(base, row["makespan s"])
        row["ideal speed-up"] = ratio(
            math.ceil(args.accounts / rows[0]["workers"]), math.ceil(args.accounts / row["workers"])
        )
    publish(
        "cluster_scaling",
        f"{args.accounts} hris accounts of {args.records} records (pages of {args.page_size}), "
        "initial sync, Celery workers "
        f"(limit {args.limit} calls / {args.window:g} s per account)",
        rows,
        ["workers", "makespan s", "speed-up", "ideal speed-up", "mean run s", "calls / account",
         "account bound s", "bound s", "bound / makespan", "429s", "failed runs"],
        parameters=vars(args),
        plot={"x": "workers", "y": ["makespan s", "bound s"], "kind": "bar", "ylabel": "seconds"},
        notes=[
            "bound s: ceil(accounts / workers) accounts back to back, each at its rate limit",
            f"on this machine: {os.cpu_count()} cores shared by the daemon, the workers, "
            "PostgreSQL and the sandbox",
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()

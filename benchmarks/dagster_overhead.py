"""What Dagster adds to a sync: run overhead with the in-process vs the multiprocess executor.

A real daemon on a PostgreSQL instance launches runs of the hris job for one small account
(nothing changed after the first sync, so the sync itself is a few dozen calls). Printed per
executor: the median time from submission to the run's end, from start to end, and the sync's
own duration inside the run (summed from the engine's results), so the difference is Dagster's.

Run: ``python -m benchmarks.dagster_overhead [--runs N]``.
"""

import argparse
import statistics
import time

import dagster as dg
import sqlalchemy as sa
from pydantic import SecretStr

from benchmarks.support import bench_database
from merge_pipeline.warehouse.accounts import LinkedAccount, save_account
from merge_pipeline.warehouse.pipeline_tables import sync_runs
from merge_pipeline.warehouse.vault import TokenVault, generate_key
from merge_pipeline_tests.dagster_stack import DagsterStack, dagster_stack
from merge_sandbox.testing import running_sandbox

API_KEY = "bench-api-key"


def _timed_runs(
    stack: DagsterStack, engine: sa.Engine, job: str, account: str, runs: int
) -> list[tuple[float, float, float]]:
    """(submit -> end, start -> end, sync seconds) for each of ``runs`` sequential runs."""
    figures = []
    for _ in range(runs):
        before = len(stack.runs_of(account))
        stack.launch(job, account)
        [*_, run] = stack.wait_for_runs(account, before + 1)
        [record] = stack.instance.get_run_records(filters=dg.RunsFilter(run_ids=[run.run_id]))
        with engine.connect() as connection:
            sync_s = sum(
                float(stats.get("duration_s", 0.0))
                for (stats,) in connection.execute(
                    sa.select(sync_runs.c.stats).where(sync_runs.c.sync_run_id == run.run_id)
                )
            )
        end = record.end_time or time.time()
        figures.append(
            (end - record.create_timestamp.timestamp(), end - (record.start_time or end), sync_s)
        )
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Dagster run overhead per executor")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    key = generate_key()
    with (
        running_sandbox(accounts=1, records=100, api_key=API_KEY, categories=["hris"]) as sandbox,
        bench_database("bench_dagster") as engine,
    ):
        [account] = sandbox.accounts
        with engine.begin() as connection:
            save_account(
                connection,
                LinkedAccount(id=account.id, category="hris"),
                SecretStr(account.account_token),
                TokenVault(SecretStr(key)),
            )
        environment = {
            "MERGE_PIPELINE_API_KEY": API_KEY,
            "MERGE_PIPELINE_BASE_URL": sandbox.base_url,
            "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": key,
            "MERGE_PIPELINE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": "100000",
            "MERGE_PIPELINE_DISCOVERY_INTERVAL_S": "10",
        }
        with dagster_stack(engine.url, environment, module="benchmarks.overhead_location") as stack:
            stack.wait_for_runs(account.id, 1)  # the discovery sensor's initial sync
            results = {
                job: _timed_runs(stack, engine, job, account.id, args.runs)
                for job in ("sync_hris", "sync_hris_multiprocess")
            }
    print(f"Dagster run overhead, hris account, {args.runs} runs each (median seconds):")
    medians = {}
    for job, figures in results.items():
        submit, run, sync = (statistics.median(column) for column in zip(*figures, strict=True))
        medians[job] = run - sync
        print(
            f"  {job:<24} submit->end {submit:6.2f}  start->end {run:6.2f}  "
            f"sync {sync:5.2f}  overhead in run {run - sync:5.2f}"
        )
    ratio = medians["sync_hris_multiprocess"] / max(medians["sync_hris"], 1e-9)
    print(f"  multiprocess / in-process overhead: {ratio:.2f}x")


if __name__ == "__main__":
    main()

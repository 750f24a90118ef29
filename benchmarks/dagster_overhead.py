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

from benchmarks.report import publish, ratio
from benchmarks.support import bench_database
from merge_pipeline.warehouse.accounts import LinkedAccount, save_account
from merge_pipeline.warehouse.pipeline_tables import sync_runs
from merge_pipeline.warehouse.vault import TokenVault, generate_key
from merge_pipeline_tests.dagster_stack import DagsterStack, dagster_stack
from merge_sandbox.testing import running_sandbox

API_KEY = "bench-api-key"
JOBS = ("sync_hris", "sync_hris_multiprocess")


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
    parser.add_argument(
        "--jobs", nargs="+", default=list(JOBS), choices=JOBS, help="executors to compare"
    )
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
                job: _timed_runs(stack, engine, job, account.id, args.runs) for job in args.jobs
            }
    rows = []
    for job, figures in results.items():
        submit, run, sync = (statistics.median(column) for column in zip(*figures, strict=True))
        rows.append(
            {
                "job": job,
                "submit->end s": submit,
                "start->end s": run,
                "sync s": sync,
                "overhead in run s": run - sync,
                "run / sync": ratio(run, sync),
            }
        )
    notes = []
    if len(rows) == 2:
        overhead = ratio(rows[1]["overhead in run s"], max(rows[0]["overhead in run s"], 1e-9))
        notes.append(f"multiprocess / in-process overhead: {overhead}x")
    publish(
        "dagster_overhead",
        f"Dagster run overhead, hris account, {args.runs} runs each (median seconds)",
        rows,
        ["job", "submit->end s", "start->end s", "sync s", "overhead in run s", "run / sync"],
        parameters=vars(args),
        plot={"x": "job", "y": ["submit->end s", "start->end s", "sync s"], "ylabel": "seconds"},
        notes=notes,
    )


if __name__ == "__main__":
    main()

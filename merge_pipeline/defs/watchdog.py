"""Fails sync runs whose process died, so a dead run never blocks its account's queue slot.

Dagster's default run launcher cannot see that a run's process is gone; the account's run lease
in PostgreSQL can (``planning.run_health`` decides, from two consecutive observations).
"""

import json
import time

import dagster as dg

from merge_pipeline.defs.jobs import ACCOUNT_TAG
from merge_pipeline.defs.resources import WarehouseResource
from merge_pipeline.planning.run_health import StartedRun, judge_runs
from merge_pipeline.settings import load_automation_settings
from merge_pipeline.warehouse.run_leases import leased_accounts

PARTITION_TAG = "dagster/partition"


def _account_of(run: dg.DagsterRun) -> str | None:
    return run.tags.get(ACCOUNT_TAG) or run.tags.get(PARTITION_TAG)


@dg.sensor(
    name="sync_run_watchdog",
    minimum_interval_seconds=load_automation_settings().watchdog_interval_s,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks a sync run failed when its process is gone (its account lease was "
    "released) so the account's next run can start.",
)
def sync_run_watchdog(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SkipReason:
    records = context.instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
    )
    started = [
        StartedRun(
            record.dagster_run.run_id,
            account,
            record.start_time or record.create_timestamp.timestamp(),
        )
        for record in records
        if (account := _account_of(record.dagster_run)) is not None
    ]
    with warehouse.engine().connect() as connection:
        leased = leased_accounts(connection, (run.account_id for run in started))
    previous = set(json.loads(context.cursor)) if context.cursor else set()
    verdicts = judge_runs(
        started,
        leased=leased,
        suspects=previous,
        now=time.time(),
        grace_s=load_automation_settings().watchdog_grace_s,
    )
    for run_id in verdicts.dead:
        run = context.instance.get_run_by_id(run_id)
        if run is not None and run.status == dg.DagsterRunStatus.STARTED:
            context.instance.report_run_failed(
                run,
                "The run's process is gone (its account lease was released without the run "
                "finishing); marked failed so the account's next run can start.",
            )
    context.update_cursor(json.dumps(sorted(verdicts.suspects)))
    return dg.SkipReason(
        f"{len(started)} sync runs started, {len(verdicts.dead)} dead, "
        f"{len(verdicts.suspects)} to check again"
    )

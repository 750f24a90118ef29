"""The watchdog fails a STARTED run whose account lease nobody holds, and only such a run."""

from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.test_utils import create_run_for_test

from merge_pipeline.defs.watchdog import sync_run_watchdog
from merge_pipeline.warehouse.run_leases import account_run_lease

pytestmark = pytest.mark.integration


def _evaluate(
    instance: dg.DagsterInstance, resources: dict[str, Any], cursor: str | None
) -> str | None:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"warehouse": resources["warehouse"]}
    )
    sync_run_watchdog(context)
    return context.cursor


def test_run_whose_process_is_gone_is_failed_on_the_second_check(
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MERGE_PIPELINE_WATCHDOG_GRACE_S", "0")
    dead = create_run_for_test(
        instance, job_name="sync_hris", status=dg.DagsterRunStatus.STARTED,
        tags={"merge/account": "acct-dead"},
    )  # fmt: skip
    alive = create_run_for_test(
        instance, job_name="sync_hris", status=dg.DagsterRunStatus.STARTED,
        tags={"merge/account": "acct-alive"},
    )  # fmt: skip
    with account_run_lease(engine, "acct-alive"):
        cursor = _evaluate(instance, resources, None)
        first = instance.get_run_by_id(dead.run_id)
        _evaluate(instance, resources, cursor)
    statuses = {
        run_id: instance.get_run_by_id(run_id).status  # type: ignore[union-attr]
        for run_id in (dead.run_id, alive.run_id)
    }
    assert first is not None and first.status == dg.DagsterRunStatus.STARTED
    assert statuses == {
        dead.run_id: dg.DagsterRunStatus.FAILURE,
        alive.run_id: dg.DagsterRunStatus.STARTED,
    }

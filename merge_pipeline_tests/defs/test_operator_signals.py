"""What a Dagster run tells the operator: an unreachable Merge in one reason, not a retry storm;
a sync that mostly waited on the rate limiter, with the setting to raise."""

import socket
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from merge_pipeline.catalog import load_catalog
from merge_pipeline.defs.assets import CATEGORY_ASSETS
from merge_pipeline.defs.partitions import partitions_name
from merge_pipeline.defs.resources import MergeApiResource
from merge_pipeline.warehouse.pipeline_tables import sync_runs
from merge_pipeline_tests.conftest import SENTINEL_API_KEY
from merge_pipeline_tests.defs.conftest import Accounts
from merge_sandbox.admin import AccountInfo

pytestmark = pytest.mark.integration


@pytest.fixture
def closed_port() -> Iterator[int]:
    """Bound by this test and never listened on: every connection to it is refused."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


def _run(
    instance: dg.DagsterInstance, resources: dict[str, Any], info: AccountInfo, **kw: Any
) -> dg.ExecuteInProcessResult:
    [assets] = [a for a in CATEGORY_ASSETS if a.node_def.name == f"{info.category}_mirror"]
    instance.add_dynamic_partitions(partitions_name(info.category), [info.id])
    return dg.materialize(
        [assets],
        partition_key=info.id,
        resources=resources,
        instance=instance,
        raise_on_error=False,
        **kw,
    )


def test_an_unreachable_merge_fails_the_run_at_once_naming_the_host(
    accounts: Accounts,
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
    engine: sa.Engine,
    closed_port: int,
) -> None:
    info = accounts.link("ats", records=10)
    resources = resources | {
        "merge": MergeApiResource(
            api_key=SENTINEL_API_KEY, base_url=f"http://127.0.0.1:{closed_port}/api"
        )
    }
    result = _run(instance, resources, info)
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    text = str(failure.step_failure_data.error)
    assert not result.success
    assert f"Merge at 127.0.0.1:{closed_port} is unreachable (ConnectError: " in text
    assert text.count("is unreachable") == 1  # one reason, not one per model
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(sync_runs.c.model_id, sync_runs.c.stats).where(
                sync_runs.c.sync_run_id == result.run_id
            )
        ).all()
    # the first model tried the host a few times (the breaker's threshold) and no model retried
    # on its own after that: the later ones never reached the network (nor started a history row)
    assert sum(row.stats["api_calls"] for row in rows) == 3
    assert len(rows) == 1
    assert len(list(load_catalog().category("ats"))) > 1


def test_a_sync_that_mostly_waited_on_the_limiter_says_which_setting_to_raise(
    accounts: Accounts,
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # one call per 1.5 s, pages of 5 records: the calls spend seconds waiting and milliseconds
    # working (the warning's condition is more than half the sync's time)
    monkeypatch.setenv("MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE", "1")
    monkeypatch.setenv("MERGE_PIPELINE_RATE_LIMIT_WINDOW_S", "1.5")
    monkeypatch.setenv("MERGE_PIPELINE_PAGE_SIZE", "5")
    info = accounts.link("hris", records=250)
    result = _run(instance, resources, info, selection=["hris/employee"])
    [materialization] = result.asset_materializations_for_node("hris_mirror")
    metadata = materialization.metadata
    waited = metadata["rate_limit_wait_s"].value
    assert isinstance(waited, float) and waited > 0
    warning = metadata["rate_limit_warning"].value
    assert isinstance(warning, str)
    assert "raise MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE" in warning

"""Materializing a category for one account syncs its models and reports each as an asset.

Runs go through Dagster for real (``materialize`` on a Dagster instance) against the sandbox over
HTTP and the test PostgreSQL; only the run queue is bypassed (the daemon tests cover it).
"""

from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from merge_pipeline.catalog import load_catalog
from merge_pipeline.defs.assets import CATEGORY_ASSETS, asset_key
from merge_pipeline.defs.partitions import partitions_name
from merge_pipeline.warehouse.run_leases import account_run_lease
from merge_pipeline_tests.defs.conftest import Accounts
from merge_pipeline_tests.oracle import assert_mirror_matches
from merge_sandbox.admin import AccountInfo, SandboxAdmin

pytestmark = pytest.mark.integration


def _assets(category: str) -> dg.AssetsDefinition:
    [assets] = [a for a in CATEGORY_ASSETS if a.node_def.name == f"{category}_mirror"]
    return assets


def _materialize(
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    info: AccountInfo,
    selection: list[str] | None = None,
) -> dg.ExecuteInProcessResult:
    instance.add_dynamic_partitions(partitions_name(info.category), [info.id])
    return dg.materialize(
        [_assets(info.category)],
        partition_key=info.id,
        resources=resources,
        instance=instance,
        selection=selection,
        raise_on_error=False,
    )


def test_a_run_mirrors_every_model_of_the_account(
    accounts: Accounts,
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
    engine: sa.Engine,
    admin: SandboxAdmin,
) -> None:
    info = accounts.link("hris", records=300)
    result = _materialize(instance, resources, info)
    models = list(load_catalog().category("hris"))
    materialized = {m.asset_key for m in result.asset_materializations_for_node("hris_mirror")}
    assert result.success and materialized == {asset_key(m) for m in models}
    for model in models:
        assert_mirror_matches(engine, admin, info.id, model.model_id)


def test_each_materialization_carries_the_syncs_figures(
    accounts: Accounts, resources: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    info = accounts.link("hris", records=300)
    result = _materialize(instance, resources, info, selection=["hris/employee"])
    [materialization] = result.asset_materializations_for_node("hris_mirror")
    metadata = materialization.metadata
    expected = {
        "dagster/partition_row_count",
        "dagster/table_name",
        "records_inserted",
        "records_updated",
        "records_unchanged",
        "records_deleted",
        "api_calls",
        "retries",
        "rate_limited_429",
        "bytes_received",
        "duration_s",
        "cursor_before",
        "cursor_after",
        "query",
    }
    assert expected <= set(metadata)
    inserted = metadata["records_inserted"].value
    row_count = metadata["dagster/partition_row_count"].value
    assert isinstance(inserted, int) and inserted > 0 and row_count == inserted


def test_a_subset_run_calls_merge_only_for_the_selected_models(
    accounts: Accounts,
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
    admin: SandboxAdmin,
) -> None:
    info = accounts.link("hris", records=300)
    admin.reset_request_counts()
    result = _materialize(instance, resources, info, selection=["hris/employee"])
    paths = {row["path"] for row in admin.request_counts() if row["account_id"] == info.id}
    assert result.success and paths == {"/hris/v1/employees"}


def test_a_failing_model_fails_its_asset_without_hiding_the_others(
    accounts: Accounts,
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
    admin: SandboxAdmin,
) -> None:
    info = accounts.link("hris", records=300)
    admin.error_burst(50, status=400, account_id=info.id, path_contains="/hris/v1/locations")
    result = _materialize(instance, resources, info)
    materialized = {m.asset_key for m in result.asset_materializations_for_node("hris_mirror")}
    failure = _step_failure(result)
    assert not result.success
    assert dg.AssetKey(["hris", "location"]) not in materialized
    assert len(materialized) == len(list(load_catalog().category("hris"))) - 1
    assert "hris.Location" in failure


def test_an_account_without_a_stored_token_fails_with_one_clear_line(
    admin: SandboxAdmin, resources: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    info = admin.create_account("hris", records=10)  # listed by Merge, never stored
    result = _materialize(instance, resources, info)
    failure = _step_failure(result)
    assert "No token is stored for linked account" in failure


def test_a_second_run_of_the_same_account_waits_then_fails_instead_of_overlapping(
    accounts: Accounts,
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lease is the second line behind the run queue: runs started around the queue."""
    info = accounts.link("hris", records=50)
    monkeypatch.setattr("merge_pipeline.defs.assets.account_run_lease", _impatient_lease)
    with account_run_lease(engine, info.id):
        result = _materialize(instance, resources, info, selection=["hris/employee"])
    failure = _step_failure(result)
    assert "another run is syncing linked account" in failure


def _impatient_lease(engine: sa.Engine, account_id: str, holder: str = "") -> Any:
    return account_run_lease(engine, account_id, holder=holder, wait_s=0.2, poll_s=0.05)


def _step_failure(result: dg.ExecuteInProcessResult) -> str:
    """The one step failure of a run, as text."""
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return str(failure.step_failure_data.error)

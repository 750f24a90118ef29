"""The whole code location loads, and every asset spec is pinned by a snapshot.

The snapshot (``asset_specs.json``) makes any change to what users see in the UI (keys,
groups, kinds, partitions, table columns, lineage) a reviewed diff. Regenerate it with
``UPDATE_SNAPSHOTS=1 pytest merge_pipeline_tests/defs/test_definitions.py``.
"""

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from merge_pipeline.catalog import load_catalog
from merge_pipeline.definitions import defs
from merge_pipeline.defs.jobs import CHECKS_IN_SYNC_RUNS, sync_request
from merge_pipeline.warehouse.mirror_tables import mirror_tables

SNAPSHOT = Path(__file__).with_name("asset_specs.json")


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return defs()


def _spec_snapshot(spec: dg.AssetSpec) -> dict[str, Any]:
    schema = spec.metadata["dagster/column_schema"]
    return {
        "key": spec.key.to_user_string(),
        "group": spec.group_name,
        "kinds": sorted(spec.kinds),
        "partitions": getattr(spec.partitions_def, "name", None),
        "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
        "tags": dict(sorted(spec.tags.items())),
        "table": spec.metadata["dagster/table_name"],
        "columns": [
            f"{c.name} {c.type}{'' if c.constraints.nullable else ' not null'}"
            for c in schema.columns
        ],
    }


def test_every_asset_spec_matches_the_snapshot(definitions: dg.Definitions) -> None:
    current = sorted(
        (_spec_snapshot(spec) for spec in definitions.resolve_all_asset_specs()),
        key=lambda s: s["key"],
    )
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=1) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


def test_one_asset_per_catalog_model_keyed_like_its_table(definitions: dg.Definitions) -> None:
    keys = {spec.key for spec in definitions.resolve_all_asset_specs()}
    tables = {
        dg.AssetKey([mirror_tables()[m].schema or "", mirror_tables()[m].name])
        for m in load_catalog()
    }
    assert keys == tables and len(keys) == len(load_catalog())


def test_each_model_is_partitioned_by_its_own_categorys_accounts(
    definitions: dg.Definitions,
) -> None:
    wrong = [
        spec.key
        for spec in definitions.resolve_all_asset_specs()
        if getattr(spec.partitions_def, "name", None) != f"{spec.group_name}_accounts"
    ]
    assert wrong == []


def test_sync_jobs_run_in_process(definitions: dg.Definitions) -> None:
    """A run is one op: the multiprocess executor would only add a subprocess per run."""
    executors = {
        definitions.resolve_job_def(f"sync_{category}").executor_def.name
        for category in load_catalog().categories
    }
    assert executors == {"in_process"}


def test_sync_runs_evaluate_their_models_checks_unless_switched_off(
    definitions: dg.Definitions,
) -> None:
    """Dagster's UI shows a check on a partitioned asset only against the asset's latest
    materialization: the checks run with the models (the default) or, switched off, never
    in a sync run (not even when a run selects some models)."""
    assert CHECKS_IN_SYNC_RUNS  # the default
    nodes = {node.name for node in definitions.resolve_job_def("sync_hris").graph.nodes}
    assert nodes == {"hris_mirror", "hris_account_health"}
    employee = dg.AssetKey(["hris", "employee"])
    job = definitions.resolve_job_def("sync_hris")
    without = job.get_subset(asset_selection={employee}, asset_check_selection=set())
    assert {node.name for node in without.graph.nodes} == {"hris_mirror"}
    request = sync_request("hris", "acct", run_key=None, trigger="t", asset_keys=[employee])
    assert request.asset_check_keys is None  # the selected models' checks come along


def test_secrets_are_bound_to_environment_variables_not_values(
    definitions: dg.Definitions,
) -> None:
    """The UI and run config show the variable's name; the value never enters Dagster."""
    resources = definitions.resources or {}
    bound = {
        name: getattr(resources[name], field)
        for name, field in [("merge", "api_key"), ("token_vault", "encryption_key")]
    }
    assert bound == {
        "merge": dg.EnvVar("MERGE_PIPELINE_API_KEY"),
        "token_vault": dg.EnvVar("MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY"),
    }

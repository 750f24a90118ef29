"""Every Common Model as an asset, partitioned by linked account: one multi-asset per category.

One run syncs every selected model of one account, in dependency order, in one process: a run
per (account, model) would multiply Dagster's per-run overhead by ten. Sensors request subset
runs (just the models an event names) of the same multi-asset. The asset key reads like the
mirror table (``hris/employee`` is ``hris.employee``), so the UI and SQL name things alike.
"""

from collections.abc import Generator, Iterable, Iterator

import dagster as dg
import sqlalchemy as sa

from merge_pipeline.catalog import Category, CommonModel, load_catalog
from merge_pipeline.defs.failures import failed_models_failure
from merge_pipeline.defs.metadata import materialization_metadata, spec_metadata
from merge_pipeline.defs.partitions import ACCOUNT_PARTITIONS
from merge_pipeline.defs.resources import (
    MergeApiResource,
    TokenVaultResource,
    WarehouseResource,
    run_settings,
)
from merge_pipeline.planning.models import parent_of, sync_mode
from merge_pipeline.settings import Settings
from merge_pipeline.sync.engine import SyncOptions
from merge_pipeline.sync.runner import SyncOutcome, iter_account_syncs
from merge_pipeline.warehouse.mirror_tables import mirror_tables, table_name
from merge_pipeline.warehouse.partition_stats import merge_model_status, partition_row_count
from merge_pipeline.warehouse.run_leases import LeaseTaken, account_run_lease

_MODE_DESCRIPTIONS = {
    "incremental": "fetched incrementally (records modified since the previous fetch began)",
    "full-refresh": "re-listed in full at each sync (Merge offers no modified_after filter)",
    "nested": "listed under each parent record",
}


def asset_key(model: CommonModel) -> dg.AssetKey:
    return dg.AssetKey([model.category, table_name(model)])


def model_spec(model: CommonModel) -> dg.AssetSpec:
    """The asset of one Common Model: its table, its columns, and how it is fetched."""
    catalog = load_catalog()
    table = mirror_tables()[model]
    mode = sync_mode(model)
    parent = parent_of(catalog, model)
    description = (
        f"Merge {model.model_id} records of every linked {model.category} account, mirrored "
        f"into `{table.schema}.{table.name}` ({len(model.fields)} fields), "
        f"{_MODE_DESCRIPTIONS[mode]}" + (f" ({parent.model_id})." if parent else ".")
    )
    return dg.AssetSpec(
        key=asset_key(model),
        description=description,
        group_name=model.category,
        kinds={"merge", "postgres"},
        tags={"merge/category": model.category, "merge/sync_mode": mode},
        metadata=spec_metadata(model, table),
        partitions_def=ACCOUNT_PARTITIONS[model.category],
        deps=[asset_key(parent)] if parent else [],
        skippable=True,
    )


def sync_options(settings: Settings) -> SyncOptions:
    """The engine's options for a scheduled or event-driven run: the configured overlap and
    nested-model policy, Merge's maximum page size, no expansion."""
    return SyncOptions.from_settings(settings, page_size=settings.page_size)


def category_assets(category: Category) -> dg.AssetsDefinition:
    """The multi-asset syncing one category's models for one linked account per run."""
    models = {asset_key(model): model for model in category}

    @dg.multi_asset(
        name=f"{category.name}_mirror",
        specs=[model_spec(model) for model in category],
        partitions_def=ACCOUNT_PARTITIONS[category.name],
        can_subset=True,
        description=f"Syncs the selected Merge {category.name} models of one linked account.",
    )
    def sync_category(
        context: dg.AssetExecutionContext,
        merge: MergeApiResource,
        warehouse: WarehouseResource,
        token_vault: TokenVaultResource,
    ) -> Iterator[dg.MaterializeResult]:
        settings = run_settings(merge, warehouse, token_vault)
        engine = warehouse.engine()
        selected = [models[key] for key in context.selected_asset_keys]
        account_id = context.partition_key
        try:
            with account_run_lease(engine, account_id, holder=f"run={context.run.run_id}"):
                outcomes = iter_account_syncs(
                    engine,
                    settings,
                    token_vault.vault(),
                    account_id,
                    selected,
                    options=sync_options(settings),
                    sync_run_id=context.run.run_id,
                )
                failed = yield from _report(context, engine, outcomes)
        except LeaseTaken as taken:
            raise dg.Failure(description=str(taken), allow_retries=True) from None
        if failed:
            raise failed_models_failure(failed, attempted=len(selected))

    return sync_category


def _report(
    context: dg.AssetExecutionContext, engine: sa.Engine, outcomes: Iterable[SyncOutcome]
) -> Generator[dg.MaterializeResult, None, list[SyncOutcome]]:
    """A materialization per model as soon as it is synced; returns the failed outcomes."""
    failed: list[SyncOutcome] = []
    for outcome in outcomes:
        if outcome.result is None:
            context.log.error(f"{outcome.model_id} failed: {outcome.error}")
            failed.append(outcome)
            continue
        model = load_catalog().model(outcome.model_id)
        table = mirror_tables()[model]
        with engine.connect() as connection:
            row_count = partition_row_count(connection, table, outcome.linked_account_id)
            status = merge_model_status(connection, outcome.linked_account_id, model.model_id)
        yield dg.MaterializeResult(
            asset_key=asset_key(model),
            metadata=materialization_metadata(
                outcome.result, table=table, partition_row_count=row_count, merge_status=status
            ),
        )
    return failed


CATEGORY_ASSETS = [category_assets(category) for category in load_catalog().categories.values()]

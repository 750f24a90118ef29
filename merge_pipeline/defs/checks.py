"""Account-health asset checks on every Common Model asset, visible on each asset's Checks tab.

Four checks per asset, each naming the accounts concerned and what to do:

* ``merge_sync_status``: Merge's own sync of the model FAILED or DISABLED (error),
  PARTIALLY_SYNCED or PAUSED (warning), from ``merge_pipeline.merge_sync_status``;
* ``no_relink_needed``: accounts Merge says need relinking (error), with the open Issue's text
  and the relink command; they get no runs until relinked;
* ``sync_fresh``: no successful sync of the account and model within
  ``MERGE_PIPELINE_STALE_SYNC_HOURS`` (warning), from ``merge_pipeline.sync_runs``;
* ``no_quarantined_records``: records the engine could not mirror (warning).

How they are evaluated, and why:

* Per asset, with the accounts in metadata, not per partition: per-partition check specs are
  still a preview in Dagster 1.13, and a per-partition result for every account would write
  thousands of events per evaluation. Each kind is one grouped SQL per category.
* The ``account_health`` sensor emits them as runless evaluations whenever a result changes
  (including the first tick), so they follow Merge's state within a tick at no run's cost.
* One ``@multi_asset_check`` per category (subsettable) runs the same evaluation on demand
  from the UI ("Execute checks"), e.g. right after a relink.
* They are never blocking: a sick account must not stop the other accounts' materializations.
"""

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext

import dagster as dg
import sqlalchemy as sa
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,  # not exported; needed to name the target
)

from merge_pipeline.catalog import Category, load_catalog
from merge_pipeline.defs.assets import asset_key
from merge_pipeline.defs.resources import WarehouseResource
from merge_pipeline.planning.account_checks import (
    Finding,
    Severity,
    quarantine_finding,
    relink_finding,
    stale_finding,
    sync_status_finding,
)
from merge_pipeline.settings import load_automation_settings
from merge_pipeline.warehouse import health_queries
from merge_pipeline.warehouse.run_leases import account_run_lease

SYNC_STATUS, RELINK, FRESH, QUARANTINE = (
    "merge_sync_status",
    "no_relink_needed",
    "sync_fresh",
    "no_quarantined_records",
)
_DESCRIPTIONS = {
    SYNC_STATUS: "Merge's own sync of this model: FAILED/DISABLED fail (error), "
    "PARTIALLY_SYNCED/PAUSED warn; names the accounts.",
    RELINK: "No account of this category needs relinking (error otherwise, with the Issue and "
    "the relink command; such accounts get no syncs until relinked).",
    FRESH: "Every account had a successful sync of this model within the stale window.",
    QUARANTINE: "No record of this model waits in merge_pipeline.quarantined_records.",
}
CHECK_NAMES = tuple(_DESCRIPTIONS)
#: accounts listed in a check's metadata at most (the count is always exact)
MAX_LISTED_ACCOUNTS = 50


def check_specs(category: Category) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(name, asset=asset_key(model), description=_DESCRIPTIONS[name])
        for model in category
        for name in CHECK_NAMES
    ]


def category_findings(
    connection: sa.Connection, category: Category, stale_hours: float
) -> Iterator[tuple[dg.AssetCheckKey, Finding]]:
    """Every check of a category's assets, from four grouped queries."""
    models = list(category)
    statuses = health_queries.sync_status_problems(connection, category.name)
    relink = relink_finding(health_queries.relink_needed(connection, category.name))
    stale = health_queries.stale_syncs(
        connection, category.name, [m.model_id for m in models], stale_hours
    )
    quarantined = health_queries.quarantine_pending(connection, category.name)
    for model in models:
        key = asset_key(model)
        yield (
            dg.AssetCheckKey(key, SYNC_STATUS),
            sync_status_finding(statuses.get(model.model_id, [])),
        )
        yield dg.AssetCheckKey(key, RELINK), relink
        yield (
            dg.AssetCheckKey(key, FRESH),
            stale_finding(stale.get(model.model_id, []), stale_hours),
        )
        yield (
            dg.AssetCheckKey(key, QUARANTINE),
            quarantine_finding(quarantined.get(model.model_id, [])),
        )


def all_findings(connection: sa.Connection) -> Iterator[tuple[dg.AssetCheckKey, Finding]]:
    hours = load_automation_settings().stale_sync_hours
    for category in load_catalog().categories.values():
        yield from category_findings(connection, category, hours)


def check_metadata(finding: Finding) -> dict[str, dg.MetadataValue]:
    listed = sorted(finding.accounts.items())[:MAX_LISTED_ACCOUNTS]
    table = "\n".join(f"| `{account}` | {what} |" for account, what in listed)
    return {
        "summary": dg.MetadataValue.text(finding.summary),
        "account_count": dg.MetadataValue.int(len(finding.accounts)),
        "accounts": dg.MetadataValue.md(
            f"| account | problem |\n|---|---|\n{table}" if listed else "none"
        ),
    }


def _severity(finding: Finding) -> dg.AssetCheckSeverity:
    return (
        dg.AssetCheckSeverity.ERROR
        if finding.severity is Severity.ERROR
        else dg.AssetCheckSeverity.WARN
    )


def check_result(key: dg.AssetCheckKey, finding: Finding) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=key.asset_key,
        check_name=key.name,
        passed=finding.passed,
        severity=_severity(finding),
        description=finding.summary,
        metadata=check_metadata(finding),
    )


def check_evaluation(
    key: dg.AssetCheckKey,
    finding: Finding,
    latest: "dg.EventLogRecord | None" = None,
) -> dg.AssetCheckEvaluation:
    """The same result, as a runless evaluation a sensor reports.

    Dagster's UI shows a check's status only while it targets the asset's latest
    materialization (of any partition, for a check on a whole asset): ``latest`` names it, so
    the result stays shown until the next sync of any account (then the sensor reports again).
    """
    target = (
        AssetCheckEvaluationTargetMaterializationData(
            storage_id=latest.storage_id, run_id=latest.run_id, timestamp=latest.timestamp
        )
        if latest is not None
        else None
    )
    return dg.AssetCheckEvaluation(
        asset_key=key.asset_key,
        check_name=key.name,
        passed=finding.passed,
        severity=_severity(finding),
        description=finding.summary,
        metadata=check_metadata(finding),
        target_materialization_data=target,
    )


def _sync_run_lease(
    context: dg.AssetCheckExecutionContext, engine: sa.Engine
) -> AbstractContextManager[None]:
    """In a sync run, the account's lease for this step too: the sync step has released it,
    and a run seen without its lease for long is failed by the watchdog as dead (seen on a
    loaded cluster, where this step took 19 s)."""
    account = context.run.tags.get("merge/account") or context.run.tags.get("dagster/partition")
    if account is None:
        return nullcontext()
    return account_run_lease(engine, account, holder=f"run={context.run.run_id}")


def category_checks(category: Category) -> dg.AssetChecksDefinition:
    @dg.multi_asset_check(
        name=f"{category.name}_account_health",
        specs=check_specs(category),
        can_subset=True,
        description=f"Account health of every {category.name} account, per Common Model.",
    )
    def account_health_checks(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterable[dg.AssetCheckResult]:
        selected = set(context.selected_asset_check_keys)
        hours = load_automation_settings().stale_sync_hours
        engine = warehouse.engine()
        with _sync_run_lease(context, engine):  # until the last result is written (the slow part)
            with engine.connect() as connection:
                findings = list(category_findings(connection, category, hours))
            for key, finding in findings:
                if key in selected:
                    yield check_result(key, finding)

    return account_health_checks


ACCOUNT_HEALTH_CHECKS = [category_checks(c) for c in load_catalog().categories.values()]

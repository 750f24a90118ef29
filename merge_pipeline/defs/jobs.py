"""One job per category: sync every model (or the selected ones) of one linked account.

Runs use the in-process executor: a run is one op (the category's multi-asset), so the default
multiprocess executor would only add a step subprocess per run (measured in the README).
"""

from collections.abc import Sequence

import dagster as dg

from merge_pipeline.catalog import load_catalog
from merge_pipeline.defs.assets import CATEGORY_ASSETS
from merge_pipeline.planning.run_budget import tick_budget
from merge_pipeline.settings import load_automation_settings

#: every run launched by this code location carries the account, so the run queue can limit
#: each account to one run at a time (dagster.yaml) whatever launched it
ACCOUNT_TAG = "merge/account"
TRIGGER_TAG = "merge/trigger"


#: whether sync runs evaluate the account-health checks of the models they sync (a setting)
CHECKS_IN_SYNC_RUNS = load_automation_settings().checks_in_sync_runs


def _selection(assets: dg.AssetsDefinition) -> dg.AssetSelection:
    """The category's models, with their account-health checks when the setting says so.

    The checks judge every account of the category in a few grouped queries; run with the
    models, the UI shows them against the materializations of the same run.
    """
    selection = dg.AssetSelection.assets(assets)
    return selection if CHECKS_IN_SYNC_RUNS else selection.without_checks()


def job_name(category: str) -> str:
    return f"sync_{category}"


SYNC_JOBS = {
    category: dg.define_asset_job(
        job_name(category),
        selection=_selection(assets),
        description=f"Sync Merge {category} models of one linked account (a partition).",
        executor_def=dg.in_process_executor,
    )
    for category, assets in zip(load_catalog().categories, CATEGORY_ASSETS, strict=True)
}


def sync_request(
    category: str,
    account_id: str,
    *,
    run_key: str | None,
    trigger: str,
    asset_keys: Sequence[dg.AssetKey] | None = None,
) -> dg.RunRequest:
    """A run of one account's category (or of ``asset_keys`` only), tagged so the queue
    serialises the account."""
    return dg.RunRequest(
        job_name=job_name(category),
        partition_key=account_id,
        run_key=run_key,
        tags={ACCOUNT_TAG: account_id, TRIGGER_TAG: trigger},
        asset_selection=list(asset_keys) if asset_keys is not None else None,
        # a run of selected assets plans their checks too unless told not to (see _selection)
        asset_check_keys=[] if asset_keys is not None and not CHECKS_IN_SYNC_RUNS else None,
    )


#: runs that wait for the queue to start them (NOT_STARTED: created, not yet submitted)
WAITING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED]


def tick_run_budget(instance: dg.DagsterInstance) -> int:
    """How many runs a sensor tick may request now (``planning.run_budget.tick_budget``)."""
    settings = load_automation_settings()
    queued = (
        instance.get_runs_count(dg.RunsFilter(statuses=WAITING)) if settings.max_queued_runs else 0
    )
    return tick_budget(settings.run_requests_per_tick, settings.max_queued_runs, queued)

"""Account discovery: Merge's linked accounts and our stored tokens become partitions.

The decisions are ``planning.partitions.plan_partitions`` and ``planning.run_budget``; this
sensor only gathers their inputs (Merge's listing per category, the accounts we hold tokens for,
the partitions and runs in flight) and carries out the plan. Every partition whose account has a
token and never had a run gets its initial sync: at most ``MERGE_PIPELINE_RUN_REQUESTS_PER_TICK``
a tick (none while the run queue is full), taken from each category in turn, so a thousand new
accounts are queued over several ticks, each over in seconds, instead of one tick that keeps the
sensor busy for many minutes.
"""

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import dagster as dg
import sqlalchemy as sa

from merge_pipeline.defs.jobs import ACCOUNT_TAG, SYNC_JOBS, sync_request, tick_run_budget
from merge_pipeline.defs.partitions import ACCOUNT_PARTITIONS, partitions_name
from merge_pipeline.defs.resources import (
    MergeApiResource,
    TokenVaultResource,
    WarehouseResource,
    run_settings,
)
from merge_pipeline.merge import endpoints
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.credentials import AccountCredentials, MalformedAccountToken
from merge_pipeline.merge.errors import InvalidAccountToken, MergeError, MergeNotFound
from merge_pipeline.merge.retry import RetryPolicy
from merge_pipeline.planning.partitions import PartitionPlan, plan_partitions
from merge_pipeline.planning.run_budget import awaiting_initial_sync, initial_syncs_first
from merge_pipeline.settings import Settings, load_automation_settings
from merge_pipeline.warehouse.account_holds import held_accounts
from merge_pipeline.warehouse.accounts import account_token, deactivate_account, list_accounts
from merge_pipeline.warehouse.purge import purge_account_rows
from merge_pipeline.warehouse.rate_limit import SharedRateLimits
from merge_pipeline.warehouse.vault import TokenVault

log = logging.getLogger(__name__)

#: Merge's account listings may take this long in one tick; past it, the categories not yet
#: read count as unreadable (nothing removed there) and stored accounts still get their
#: partitions, so a slow listing never stalls discovery (a tick has 60 s in all)
LISTING_BUDGET_S = 30.0

#: at most this many "is it really deleted?" calls per tick (bounded work per tick)
MAX_CONFIRMATIONS_PER_TICK = 20
#: a sensor tick has 60 s in all: retry briefly, and let the next tick try again
SENSOR_RETRIES = RetryPolicy(
    max_retries=2, initial_backoff_s=0.5, max_backoff_s=2.0, jitter_s=0.2, max_total_wait_s=5.0
)


def sensor_client(settings: Settings, engine: sa.Engine) -> MergeClient:
    """A Merge client for a sensor tick: brief retries, and every call counted against the
    account's rate limit shared with the runs."""
    return MergeClient(
        settings,
        retry_policy=SENSOR_RETRIES,
        rate_limiters=SharedRateLimits.from_settings(engine, settings),
    )


IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def listed_accounts(client: MergeClient, category: str, deadline: float) -> set[str] | None:
    """Ids Merge lists for a category, or None if the listing failed or ran past ``deadline``
    (never an empty or partial guess).

    Merge lists test accounts only when asked for them, and other accounts only when not, so
    both listings are read. Each asks Merge for this category's accounts where its ``category``
    filter knows the category: unfiltered, every category prefix would page through the whole
    organisation (at 1,000 accounts over 5 categories, 110 pages a tick instead of 26, which
    took longer than a tick may). Whether every category prefix lists every category's
    accounts is unconfirmed, so only accounts of this category are kept either way.
    """
    filters = {"category": category} if category in endpoints.LINKED_ACCOUNT_CATEGORIES else {}
    ids: set[str] = set()
    try:
        for test_accounts in ({}, {"is_test_account": "true"}):
            if time.monotonic() > deadline:
                return None
            for account in client.linked_accounts(category, **filters, **test_accounts):
                if time.monotonic() > deadline:
                    return None
                if account.get("category") in (None, category):
                    ids.add(str(account["id"]))
    except MergeError:
        return None
    return ids


def accounts_with_runs(instance: dg.DagsterInstance) -> set[str]:
    """Every account that ever had a run, whoever launched it (one query over the run tags)."""
    tags = instance.get_run_tags(tag_keys=[ACCOUNT_TAG, "dagster/partition"])
    return {value for _, values in tags for value in values}


def partitions_in_flight(instance: dg.DagsterInstance, keys: set[str]) -> set[str]:
    """Which of ``keys`` have a run queued or running (they must not be removed now)."""
    if not keys:
        return set()
    runs = instance.get_runs(
        filters=dg.RunsFilter(statuses=IN_FLIGHT, tags={"dagster/partition": sorted(keys)})
    )
    return {run.tags["dagster/partition"] for run in runs if "dagster/partition" in run.tags}


def confirmed_deleted(
    client: MergeClient,
    connection: sa.Connection,
    vault: TokenVault,
    category: str,
    candidates: tuple[str, ...],
) -> Iterator[str]:
    """Candidates Merge no longer knows: their token is refused or the account is not found."""
    for account_id in candidates[:MAX_CONFIRMATIONS_PER_TICK]:
        token = account_token(connection, account_id, vault)
        try:
            credentials = AccountCredentials(account_id, token)
        except MalformedAccountToken as error:  # cannot be asked about; never taken as deleted
            log.warning("linked account %s not checked: %s", account_id, error)
            continue
        try:
            client.account_details(credentials, category)
        except (InvalidAccountToken, MergeNotFound):
            yield account_id
        except MergeError:
            continue  # unknown: ask again next tick


@dg.sensor(
    name="linked_account_discovery",
    jobs=list(SYNC_JOBS.values()),
    minimum_interval_seconds=load_automation_settings().discovery_interval_s,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds each linked account (listed by Merge or stored with its token) as a "
    "partition of its category and requests its initial sync (a bounded number per tick); "
    "removes deleted accounts.",
)
def linked_account_discovery(
    context: dg.SensorEvaluationContext,
    merge: MergeApiResource,
    warehouse: WarehouseResource,
    token_vault: TokenVaultResource,
) -> dg.SensorResult:
    settings = run_settings(merge, warehouse, token_vault)
    engine = warehouse.engine()
    result = _Changes()
    with_runs = accounts_with_runs(context.instance)
    deadline = time.monotonic() + LISTING_BUDGET_S
    with (
        sensor_client(settings, engine) as client,
        engine.connect() as connection,
    ):
        for category in ACCOUNT_PARTITIONS:
            # after one failed listing, Merge is likely down: spare the tick's time budget
            listed = None if result.unreadable else listed_accounts(client, category, deadline)
            if listed is None:
                result.unreadable.append(category)
            stored = {a.id for a in list_accounts(connection, category=category)}
            existing = set(context.instance.get_dynamic_partitions(partitions_name(category)))
            plan = _plan(context.instance, existing, listed, stored)
            for account_id in confirmed_deleted(
                client, connection, token_vault.vault(), category, plan.confirm_deleted
            ):
                retire_account(connection, account_id, category)
                stored.discard(account_id)
                context.log.info(f"{category} account {account_id} was deleted in Merge")
            result.apply(category, plan)
            partitions = (existing | set(plan.add)) - set(plan.delete)
            unsynced = sorted(partitions & stored - with_runs)
            result.awaiting[category] = awaiting_initial_sync(
                partitions,
                stored=stored,
                # an account that needs relinking could only fail: its sync waits for the relink
                held=set(held_accounts(connection, unsynced)),
                with_runs=with_runs,
            )
    result.request_initial_syncs(tick_run_budget(context.instance))
    if result.unreadable:
        context.log.warning(
            f"Merge's account list could not be read (or not within {LISTING_BUDGET_S:.0f} s) "
            f"for {', '.join(result.unreadable)}: nothing was removed there"
        )
    if (waiting := sum(len(a) for a in result.awaiting.values())) > len(result.runs):
        context.log.info(
            f"{waiting} accounts await their initial sync: {len(result.runs)} requested now, "
            "the rest in the next ticks"
        )
    return dg.SensorResult(run_requests=result.runs, dynamic_partitions_requests=result.partitions)


def _plan(
    instance: dg.DagsterInstance,
    existing: set[str],
    listed: set[str] | None,
    stored: set[str],
) -> PartitionPlan:
    removable = existing - stored - (listed or set())
    return plan_partitions(
        listed=listed,
        stored=stored,
        existing=existing,
        in_flight=partitions_in_flight(instance, removable),
    )


def retire_account(connection: sa.Connection, account_id: str, category: str) -> None:
    """No more runs for a deleted account; its rows are kept or purged as configured."""
    deactivate_account(connection, account_id)
    if load_automation_settings().deleted_account_data == "purge":
        purge_account_rows(connection, account_id, category)
    connection.commit()


@dataclass
class _Changes:
    """What one tick asks of Dagster: partitions to add or delete, initial syncs to run."""

    partitions: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = field(
        default_factory=list
    )
    runs: list[dg.RunRequest] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    #: category -> partitions whose account has a token and never had a run
    awaiting: dict[str, list[str]] = field(default_factory=dict)

    def apply(self, category: str, plan: PartitionPlan) -> None:
        partitions = ACCOUNT_PARTITIONS[category]
        if plan.add:
            self.partitions.append(partitions.build_add_request(list(plan.add)))
        if plan.delete:
            self.partitions.append(partitions.build_delete_request(list(plan.delete)))

    def request_initial_syncs(self, budget: int) -> None:
        self.runs = [
            sync_request(category, account, run_key=f"initial:{account}", trigger="initial")
            for category, account in initial_syncs_first(self.awaiting, budget)
        ]

"""Merge's webhooks, from the inbox, become sync runs: the guide's first way to know to fetch.

Reads ``merge_pipeline.webhook_inbox`` after its cursor (``{"last_id": N}``), at most
``MERGE_PIPELINE_WEBHOOK_SENSOR_BATCH`` events a tick, only rows older than
``MERGE_PIPELINE_WEBHOOK_SENSOR_SETTLE_S`` (so no row still committing is passed by the cursor):

* the linked-account event: a new account becomes a partition and gets its initial sync (so
  does a partition never synced: discovery adds an account Merge lists before its token
  arrives, without a sync); a relink gets a sync (Merge syncs again after a relink);
* ``LinkedAccount.synced`` / ``{Model}.synced``: each model's report is judged by
  ``planning.merge_syncs.webhook_verdict`` and stored; finished syncs not yet run become one
  run per account (``defs.sync_requests``), so a repeated, late or reordered webhook, or one
  about a sync the poll already saw, requests nothing more.

A tick requests at most ``MERGE_PIPELINE_RUN_REQUESTS_PER_TICK`` runs, none while
``MERGE_PIPELINE_MAX_QUEUED_RUNS`` wait in the queue (``planning.run_budget``):
finished syncs past it stay pending for the next tick (of either sensor), and initial syncs past
it are requested by discovery, which gives every partition that never had a run its first.

Issues and account deletions are left to the account-health sensor (its own cursor). An event
for an unknown account or model, or a malformed one, is skipped with one log line and counted;
it never fails the tick nor holds the cursor back. Held accounts (RELINK_NEEDED) get no runs.
"""

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

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
from merge_pipeline.defs.sync_requests import (
    cursor_count,
    due_run_requests,
    model_problem,
    observe,
    runnable_accounts,
)
from merge_pipeline.planning.merge_syncs import webhook_verdict
from merge_pipeline.planning.sync_reports import EventNames, InboxEvent, MalformedReport, read_event
from merge_pipeline.settings import load_automation_settings
from merge_pipeline.warehouse.account_holds import held_accounts
from merge_pipeline.warehouse.pipeline_tables import linked_accounts, webhook_inbox

TRIGGER = "webhook"


@dataclass
class _Tick:
    """What one tick did: runs, partitions, the accounts it touched, what it skipped."""

    categories: dict[str, str]
    held: set[str]
    partitions: dict[str, set[str]]
    budget: int
    runs: list[dg.RunRequest] = field(default_factory=list)
    new_partitions: dict[str, list[str]] = field(default_factory=dict)
    touched: dict[str, str] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    #: initial syncs past the tick's budget: discovery requests them (no run yet)
    deferred_initial: int = 0

    def skip(self, context: dg.SensorEvaluationContext, inbox_id: int, why: str, kind: str) -> None:
        context.log.warning(f"webhook inbox #{inbox_id} skipped: {why}")
        self.skipped[kind] += 1

    def linked(
        self, instance: dg.DagsterInstance, inbox_id: int, event: InboxEvent, category: str
    ) -> None:
        account = str(event.account_id)
        known = self.partitions.setdefault(category, set())
        new = account not in known
        if new:
            known.add(account)
            self.new_partitions.setdefault(category, []).append(account)
        if new or not event.is_relink:
            # a new account; or a partition never synced: discovery adds an account Merge lists
            # before its token arrived without a sync. Any run at all (discovery's initial sync,
            # the poll's) already did what an initial sync would.
            if account in self.held or _has_runs(instance, account):
                return
            if len(self.runs) >= self.budget:
                self.deferred_initial += 1
                return
            self.runs.append(
                sync_request(category, account, run_key=f"initial:{account}", trigger=TRIGGER)
            )
        elif event.is_relink and account not in self.held:
            # never deferred: Merge syncs again after a relink, and relinks are rare
            self.runs.append(
                sync_request(
                    category, account, run_key=f"relink:{account}:{inbox_id}", trigger=TRIGGER
                )
            )


@dg.sensor(
    name="merge_webhook_sync",
    jobs=list(SYNC_JOBS.values()),
    minimum_interval_seconds=load_automation_settings().webhook_sensor_interval_s,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads Merge's webhooks from the inbox: a linked account gets its initial sync, "
    "a model Merge finished syncing gets one run (once per Merge sync).",
)
def merge_webhook_sync(
    context: dg.SensorEvaluationContext,
    merge: MergeApiResource,
    warehouse: WarehouseResource,
    token_vault: TokenVaultResource,
) -> dg.SensorResult:
    automation = load_automation_settings()
    names = EventNames(
        linked=run_settings(merge, warehouse, token_vault).webhook_linked_event,
        account_synced=automation.webhook_account_synced_event,
        model_synced=automation.webhook_model_synced_event,
    )
    last_id = cursor_count(context.cursor, "last_id")  # the last inbox id handled
    settle = automation.webhook_sensor_settle_s
    with warehouse.engine().connect() as connection:
        rows = connection.execute(
            sa.select(webhook_inbox.c.id, webhook_inbox.c.event, webhook_inbox.c.payload)
            .where(
                webhook_inbox.c.id > last_id,
                # ids are taken at insert, rows seen at commit: a row still uncommitted below a
                # visible one would be passed by the cursor for good; receiver transactions are
                # short, so rows older than the settle time have all committed
                webhook_inbox.c.received_at
                < sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, settle),
            )
            .order_by(webhook_inbox.c.id)
            .limit(automation.webhook_sensor_batch)
        ).all()
        tick = _start_tick(context.instance, connection, rows, tick_run_budget(context.instance))
        for row in rows:
            _handle(context, connection, tick, names, row.id, row.event, row.payload)
            connection.commit()  # each event's observations stand on their own
        tick.runs += due_run_requests(
            connection,
            runnable_accounts(
                context.instance, connection, tick.touched, partitions=tick.partitions
            ),
            trigger=TRIGGER,
            source="webhook",
            wait_for_all=automation.wait_for_all_accounts,
            limit=max(tick.budget - len(tick.runs), 0),
        )
    if tick.budget == 0:
        context.log.info("the run queue is full: Merge's finished syncs wait for a later tick")
    if tick.deferred_initial:
        context.log.info(
            f"{tick.deferred_initial} initial syncs past this tick's {tick.budget} runs are left "
            "to account discovery"
        )
    if tick.skipped:
        context.log.warning(
            "webhook events skipped: "
            + ", ".join(f"{n} {kind}" for kind, n in sorted(tick.skipped.items()))
        )
    return dg.SensorResult(
        run_requests=tick.runs,
        dynamic_partitions_requests=[
            ACCOUNT_PARTITIONS[category].build_add_request(accounts)
            for category, accounts in sorted(tick.new_partitions.items())
        ],
        cursor=json.dumps({"last_id": rows[-1].id if rows else last_id}),
    )


def _has_runs(instance: dg.DagsterInstance, account_id: str) -> bool:
    """Whether any run (in any state) was ever requested for the account."""
    return bool(
        instance.get_run_ids(filters=dg.RunsFilter(tags={ACCOUNT_TAG: account_id}), limit=1)
    )


def _start_tick(
    instance: dg.DagsterInstance, connection: sa.Connection, rows: Sequence[Any], budget: int
) -> _Tick:
    ids = sorted(
        {
            str(a["id"])
            for r in rows
            if isinstance(a := r.payload.get("linked_account"), dict) and "id" in a
        }
    )
    query = sa.select(linked_accounts.c.id, linked_accounts.c.category).where(
        linked_accounts.c.id.in_(ids), linked_accounts.c.is_active
    )
    categories = {row.id: row.category for row in connection.execute(query)}
    return _Tick(
        categories=categories,
        held=set(held_accounts(connection, ids)),
        partitions={
            category: set(instance.get_dynamic_partitions(partitions_name(category)))
            for category in set(categories.values())
        },
        budget=budget,
    )


def _handle(
    context: dg.SensorEvaluationContext,
    connection: sa.Connection,
    tick: _Tick,
    names: EventNames,
    inbox_id: int,
    event_name: str,
    payload: dict[str, object],
) -> None:
    try:
        event = read_event(event_name, payload, names)
    except MalformedReport as error:
        tick.skip(context, inbox_id, str(error), "malformed")
        return
    if event.kind == "other":
        return
    account = str(event.account_id)
    category = tick.categories.get(account)
    if category is None:
        tick.skip(
            context, inbox_id, f"{event_name} for unknown account {account}", "unknown account"
        )
        return
    if event.kind == "linked":
        tick.linked(context.instance, inbox_id, event, category)
        return
    for report in event.reports:
        if (problem := model_problem(report, category)) is not None:
            tick.skip(context, inbox_id, problem, "unknown model")
            continue
        observe(
            connection, account, report, webhook_verdict, seen=f"inbox:{inbox_id}", source="webhook"
        )
        tick.touched[account] = category

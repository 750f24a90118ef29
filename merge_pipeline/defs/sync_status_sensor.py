"""The ``/sync-status`` poll: the guide's safety net for webhooks that never came.

Each tick reads Merge's sync status of the next ``MERGE_PIPELINE_SYNC_STATUS_ACCOUNTS_PER_TICK``
accounts (round-robin over the stored, active accounts that are partitions; cursor
``{"offset": N}``), and starts no new account after ``MERGE_PIPELINE_SYNC_STATUS_TIME_BUDGET_S``,
far inside the 60 s tick limit. Each row is judged by ``planning.merge_syncs.poll_verdict``;
syncs not yet run become one run per account (``defs.sync_requests``), at most
``MERGE_PIPELINE_RUN_REQUESTS_PER_TICK`` a tick, none while the run queue is full (the rest
stay pending for the next tick of either sync sensor, oldest first). Calls go through the shared
rate limiter, so they count against the account's Merge limit like a run's. A failed
read records nothing (unknown is not "no change"); when Merge itself fails (5xx, no answer, API
key refused) the tick ends there, sparing its time budget. Held accounts (RELINK_NEEDED) are not
asked, nor accounts polled within ``MERGE_PIPELINE_SYNC_STATUS_MIN_ACCOUNT_INTERVAL_S`` (so a
small deployment does not pay a call per account every tick).
"""

import json
import time
from collections import Counter
from datetime import UTC, datetime

import dagster as dg
import sqlalchemy as sa

from merge_pipeline.defs.discovery import sensor_client
from merge_pipeline.defs.jobs import SYNC_JOBS, tick_run_budget
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
    runnable_accounts,
)
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.credentials import AccountCredentials, MalformedAccountToken
from merge_pipeline.merge.errors import (
    InvalidApiKey,
    MergeError,
    MergeServerError,
    MergeTransportError,
)
from merge_pipeline.planning.merge_syncs import Remembered, instant, poll_verdict
from merge_pipeline.planning.sync_reports import MalformedReport, SyncReport, report_from_row
from merge_pipeline.settings import load_automation_settings
from merge_pipeline.warehouse.account_holds import held_accounts
from merge_pipeline.warehouse.accounts import UnknownLinkedAccount, account_token
from merge_pipeline.warehouse.merge_syncs import apply_observations, recently_polled, remembered
from merge_pipeline.warehouse.pipeline_tables import linked_accounts
from merge_pipeline.warehouse.vault import TokenVault

TRIGGER = "sync-status"


def pollable_accounts(
    instance: dg.DagsterInstance, connection: sa.Connection
) -> list[tuple[str, str]]:
    """(id, category) of active stored accounts that are partitions, in a stable order."""
    partitions = {
        category: set(instance.get_dynamic_partitions(partitions_name(category)))
        for category in ACCOUNT_PARTITIONS
    }
    rows = connection.execute(
        sa.select(linked_accounts.c.id, linked_accounts.c.category)
        .where(linked_accounts.c.is_active)
        .order_by(linked_accounts.c.id)
    )
    return [(r.id, r.category) for r in rows if r.id in partitions.get(r.category, set())]


@dg.sensor(
    name="merge_sync_status_poll",
    jobs=list(SYNC_JOBS.values()),
    minimum_interval_seconds=load_automation_settings().sync_status_interval_s,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Polls Merge's /sync-status round-robin over the accounts and requests a run for "
    "each model whose newest Merge sync finished and was not run yet.",
)
def merge_sync_status_poll(
    context: dg.SensorEvaluationContext,
    merge: MergeApiResource,
    warehouse: WarehouseResource,
    token_vault: TokenVaultResource,
) -> dg.SensorResult:
    automation = load_automation_settings()
    settings = run_settings(merge, warehouse, token_vault)
    engine = warehouse.engine()
    deadline = time.monotonic() + automation.sync_status_time_budget_s
    counts: Counter[str] = Counter()
    polled: dict[str, str] = {}
    with engine.connect() as connection:
        accounts = pollable_accounts(context.instance, connection)
        if not accounts:
            return dg.SensorResult(cursor=json.dumps({"offset": 0}))
        start = cursor_count(context.cursor, "offset") % len(accounts)
        batch = (accounts[start:] + accounts[:start])[: automation.sync_status_accounts_per_tick]
        held = held_accounts(connection, [a for a, _ in batch])
        fresh = recently_polled(
            connection, [a for a, _ in batch], automation.sync_status_min_account_interval_s
        )
        visited = 0
        with sensor_client(settings, engine) as client:
            for account_id, category in batch:
                if time.monotonic() > deadline:
                    counts["left for the next tick"] = len(batch) - visited
                    break
                visited += 1
                if account_id in held:
                    counts["held"] += 1
                    continue
                if account_id in fresh:
                    counts["polled recently"] += 1
                    continue
                try:
                    rows = _read(
                        context, client, connection, token_vault.vault(), account_id, category
                    )
                except MergeUnavailable as error:
                    # Merge itself is failing: every further call would wait out its retries
                    context.log.warning(f"{error}: the other accounts wait for the next tick")
                    counts["unreadable"] += 1
                    counts["left for the next tick"] = len(batch) - visited
                    break
                if rows is None:
                    counts["unreadable"] += 1
                    continue
                _observe(context, connection, account_id, category, rows, counts)
                polled[account_id] = category
        budget = tick_run_budget(context.instance)
        if budget == 0:
            counts["runs held back (the run queue is full)"] = 1
        runs = due_run_requests(
            connection,
            runnable_accounts(context.instance, connection, polled),
            trigger=TRIGGER,
            source="poll",
            wait_for_all=automation.wait_for_all_accounts,
            limit=budget,
        )
    counts["polled"] = len(polled)
    context.log.info(", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
    return dg.SensorResult(
        run_requests=runs, cursor=json.dumps({"offset": (start + visited) % len(accounts)})
    )


class MergeUnavailable(Exception):
    """Merge answers no account (5xx, no response, or our API key refused)."""


def _read(
    context: dg.SensorEvaluationContext,
    client: MergeClient,
    connection: sa.Connection,
    vault: TokenVault,
    account_id: str,
    category: str,
) -> list[dict[str, object]] | None:
    """The account's /sync-status rows, or None (one log line) when this account's cannot be
    read; raises MergeUnavailable when Merge fails whatever the account."""
    try:
        credentials = AccountCredentials(account_id, account_token(connection, account_id, vault))
        return client.sync_status(credentials, category)
    except (MergeServerError, MergeTransportError, InvalidApiKey) as error:
        raise MergeUnavailable(f"sync status of {account_id} not read: {error}") from None
    except (MalformedAccountToken, UnknownLinkedAccount, MergeError) as error:
        context.log.warning(f"sync status of {account_id} not read: {error}")
        return None


def _observe(
    context: dg.SensorEvaluationContext,
    connection: sa.Connection,
    account_id: str,
    category: str,
    rows: list[dict[str, object]],
    counts: Counter[str],
) -> None:
    """Judge every row of one answer and store them, in one transaction."""
    seen = f"poll:{instant(datetime.now(UTC))}"
    known = remembered(connection, account_id)  # one row per model: read once
    judged = []
    for row in rows:
        try:
            report: SyncReport = report_from_row(row)
        except MalformedReport as error:
            context.log.warning(f"sync status row of {account_id} skipped: {error}")
            counts["malformed rows"] += 1
            continue
        if (problem := model_problem(report, category)) is not None:
            context.log.warning(f"sync status row of {account_id} skipped: {problem}")
            counts["unknown models"] += 1
            continue
        judged.append(
            (report, poll_verdict(report, known.get(report.model_id, Remembered()), seen))
        )
    apply_observations(connection, account_id, judged, "poll")
    connection.commit()

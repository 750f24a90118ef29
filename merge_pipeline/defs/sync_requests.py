"""Shared by the webhook and sync-status sensors: Merge's sync reports in, run requests out.

``observe`` stores one report with its verdict; ``runnable_accounts`` names the accounts a tick
may request runs for (those it heard about, plus every account whose reported syncs still wait
for a run); ``due_run_requests`` turns their pending syncs into at most the tick's budget of run
requests, oldest first, claiming each sync by compare-and-set first, so a sync that the other
sensor (or an earlier tick) already claimed is never requested twice, and a sync left over by
the budget stays pending for the next tick.
"""

import json
from collections.abc import Callable, Collection, Mapping
from functools import cache

import dagster as dg
import sqlalchemy as sa

from merge_pipeline.catalog import load_catalog
from merge_pipeline.defs.assets import asset_key
from merge_pipeline.defs.jobs import sync_request
from merge_pipeline.defs.partitions import partitions_name
from merge_pipeline.planning.merge_syncs import Remembered, SyncReport, Verdict
from merge_pipeline.planning.models import parent_of
from merge_pipeline.planning.run_budget import oldest_first
from merge_pipeline.planning.sync_requests import due_syncs, plan_runs, waits_for_all
from merge_pipeline.warehouse.account_holds import held_accounts
from merge_pipeline.warehouse.merge_syncs import (
    accounts_with_unrun_syncs,
    apply_observation,
    claim,
    remembered,
    set_run_key,
    sync_states,
)

VerdictRule = Callable[[SyncReport, Remembered, str], Verdict]


@cache
def nested_children() -> dict[str, tuple[str, ...]]:
    """Model id -> the nested models listed under its rows (``ats.Job`` -> ScreeningQuestion)."""
    catalog = load_catalog()
    children: dict[str, list[str]] = {}
    for model in catalog:
        parent = parent_of(catalog, model)
        if parent is not None:
            children.setdefault(parent.model_id, []).append(model.model_id)
    return {parent: tuple(sorted(kids)) for parent, kids in children.items()}


@cache
def category_models(category: str) -> tuple[str, ...]:
    return tuple(model.model_id for model in load_catalog().category(category))


def model_problem(report: SyncReport, category: str) -> str | None:
    """Why a report cannot be acted on (a model that is not of the account's category)."""
    if report.model_id not in category_models(category):
        return f"unknown model {report.model_id!r} for a {category} account"
    return None


def observe(
    connection: sa.Connection,
    account_id: str,
    report: SyncReport,
    rule: VerdictRule,
    *,
    seen: str,
    source: str,
) -> Verdict:
    """Judge one report against what is stored and store it (in the caller's transaction)."""
    stored = remembered(connection, account_id).get(report.model_id, Remembered())
    verdict = rule(report, stored, seen)
    apply_observation(connection, account_id, report, verdict, source)
    return verdict


def runnable_accounts(
    instance: dg.DagsterInstance,
    connection: sa.Connection,
    heard: Mapping[str, str],
    *,
    partitions: Mapping[str, Collection[str]] | None = None,
) -> dict[str, str]:
    """Accounts (id -> category) a tick may request sync runs for: those ``heard`` of in this
    tick and every account whose reported syncs still wait for a run; not held accounts
    (RELINK_NEEDED: their syncs wait until the hold is lifted), and only partitions (a run for
    an account discovery has not added yet would fail the tick; its syncs wait for it).
    ``partitions``: the keys the tick already read (with those it adds), per category."""
    candidates = {**accounts_with_unrun_syncs(connection), **heard}
    held = held_accounts(connection, sorted(candidates))
    known = dict(partitions or {})
    for category in set(candidates.values()) - set(known):
        known[category] = set(instance.get_dynamic_partitions(partitions_name(category)))
    return {
        account: category
        for account, category in candidates.items()
        if account not in held and account in known[category]
    }


def due_run_requests(
    connection: sa.Connection,
    accounts: Mapping[str, str],
    *,
    trigger: str,
    source: str,
    wait_for_all: tuple[str, ...],
    limit: int,
) -> list[dg.RunRequest]:
    """At most ``limit`` run requests, one per account with due syncs, the longest waiting
    first (``accounts``: id -> category, from ``runnable_accounts``). Each account's claims are
    committed on their own: two sensors taking the same accounts in different orders must not
    hold each other's rows (a deadlock failed a tick). The syncs of accounts past the limit
    stay unclaimed for a later tick."""
    catalog = load_catalog()
    due = []
    for account_id, state in sync_states(connection, dict(accounts)).items():
        due += due_syncs(
            state.pending,
            category_models=category_models(accounts[account_id]),
            statuses=state.statuses,
            wait_for_all=waits_for_all(account_id, wait_for_all),
        )
    requests: list[dg.RunRequest] = []
    for plan in oldest_first(plan_runs(due, nested_children(), trigger)):
        if len(requests) >= limit:
            break
        won = claim(connection, plan.syncs, source, plan.run_key)
        if not won:
            connection.commit()
            continue
        ours = plan
        if len(won) < len(plan.syncs):  # the other sensor took some: run only ours
            [ours] = plan_runs(won, nested_children(), trigger)
            set_run_key(connection, won, ours.run_key)
        connection.commit()
        requests.append(
            sync_request(
                ours.category,
                ours.account_id,
                run_key=ours.run_key,
                trigger=trigger,
                asset_keys=[asset_key(catalog.model(m)) for m in ours.models],
            )
        )
    connection.commit()
    return requests


def cursor_count(cursor: str | None, field: str) -> int:
    """A non-negative whole number kept in a sensor's JSON cursor (0 when absent or unreadable:
    a cursor from an older version starts the sensor over rather than failing its ticks)."""
    try:
        value = json.loads(cursor or "{}").get(field, 0)
    except (ValueError, AttributeError):
        return 0
    return value if isinstance(value, int) and value >= 0 else 0

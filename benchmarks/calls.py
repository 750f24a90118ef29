"""Calls spent per model against the minimum, for an hris and an ats account.

Each account is mirrored in full (initial sync), then synced again after 0, 1, 10 and 100
percent of every model's records changed (the sandbox's admin API updates the first k records
of each model; the sandbox clock is moved past the cursor overlap before each sync, so every
round's changes are read once). Calls are the sandbox's own count for the account, reset before
each model's sync; the engine's count is cross-checked against it.

The minimum per model:

* a flat model: ``ceil(records listed / page size)``, and at least 1 (an incremental sync must
  ask even when nothing changed);
* the nested ``ats.ScreeningQuestion`` (listed job by job, no ``modified_after``): one call per
  page of each parent that has to be listed: every job in the initial sync, and afterwards only
  the jobs whose questions changed (an oracle's minimum: nobody can know which without asking).
  It is synced under both nested policies each round (``changed-parents`` first); ``stale`` counts
  changed records whose mirrored ``modified_at`` is older than Merge's after the sync. A last
  round changes 10% of the questions (the last ones, under other jobs than the first rounds')
  and no job: ``changed-parents`` cannot see those until its weekly full re-list.

Also a daily deletion sweep (every incremental model listed in full) per account, and a
simulated day of triggers: the ``/sync-status`` poll sensor and duplicate webhooks (see
``benchmarks.triggers``).

Run: ``python -m benchmarks.calls [--records N]`` (records per account).
"""

import argparse
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from benchmarks.report import publish, ratio
from benchmarks.support import bench_database
from merge_pipeline.catalog import CommonModel, load_catalog
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.credentials import AccountCredentials
from merge_pipeline.settings import Settings
from merge_pipeline.sync.engine import ModelSync, SyncOptions
from merge_pipeline.sync.nested_policy import NestedPolicy
from merge_pipeline.sync.result import SyncResult
from merge_pipeline.sync.runner import dependency_order
from merge_pipeline.warehouse.mirror_tables import PARENT_ID, mirror_tables
from merge_pipeline.warehouse.vault import generate_key
from merge_sandbox.admin import SandboxAdmin
from merge_sandbox.testing import sandbox_process

API_KEY = "bench-api-key"
PAGE_SIZE = 100
PERCENTS = (0, 1, 10, 100)
#: the share of a nested model's records changed, with their parents left unchanged
CHILDREN_ONLY_PERCENT = 10
#: moved on the sandbox clock between a round's changes and its sync: past the cursor overlap
CLOCK_STEP_S = 180.0


@dataclass
class Account:
    """One benchmarked account: its credentials and what the rounds need to know."""

    category: str
    credentials: AccountCredentials
    models: list[CommonModel]
    ids: dict[str, list[str]] = field(default_factory=dict)


def minimum_calls(records: int, incremental: bool) -> int:
    pages = math.ceil(records / PAGE_SIZE)
    return max(1, pages) if incremental else pages


def _parsed(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


class Bench:
    """Syncs one model at a time and reads the sandbox's count of the calls it made."""

    def __init__(self, engine: sa.Engine, settings: Settings, admin: SandboxAdmin) -> None:
        self.engine = engine
        self.settings = settings
        self.admin = admin
        self.tables = mirror_tables()

    def sync(self, account: Account, model: CommonModel, options: SyncOptions) -> dict[str, Any]:
        self.admin.reset_request_counts()
        with MergeClient(self.settings) as client:
            result = ModelSync(
                self.engine,
                client,
                account.credentials,
                model,
                options=options,
                sync_run_id=f"bench-{uuid.uuid4()}",
            ).run()
        calls = self.admin.count_requests(account.credentials.linked_account_id)
        return {"calls": calls, "engine_calls": result.api_calls, "result": result}

    def stale(self, account: Account, model: CommonModel, changed: Sequence[str]) -> int:
        """Changed records whose mirrored ``modified_at`` is older than Merge's."""
        if not changed:
            return 0
        truth = self.admin.records(account.credentials.linked_account_id, model.model_id)
        wanted = set(changed)
        merge_modified = {
            key: _parsed(record.get("modified_at"))
            for key, record in truth.by_key().items()
            if key in wanted
        }
        table = self.tables[model]
        with self.engine.connect() as connection:
            mirrored = dict(
                connection.execute(
                    sa.select(table.c.id, table.c.modified_at).where(
                        table.c.linked_account_id == account.credentials.linked_account_id,
                        table.c.id.in_(list(wanted)),
                    )
                ).all()
            )
        return sum(
            1
            for key, modified in merge_modified.items()
            if modified is not None and (mirrored.get(key) is None or mirrored[key] < modified)
        )

    def parent_pages(self, account: Account, model: CommonModel, ids: Sequence[str] | None) -> int:
        """Minimum calls to list the children of the parents of ``ids`` (None: every parent)."""
        table = self.tables[model]
        [param] = model.path_params
        parent = load_catalog().category(model.category).model(str(param.model))
        parent_table = self.tables[parent]
        account_id = account.credentials.linked_account_id
        with self.engine.connect() as connection:
            if ids is None:
                parents = connection.execute(
                    sa.select(sa.func.count()).where(parent_table.c.linked_account_id == account_id)
                ).scalar_one()
                per_parent = connection.execute(
                    sa.select(sa.func.count())
                    .where(table.c.linked_account_id == account_id)
                    .group_by(table.c[PARENT_ID])
                ).scalars()
                extra = sum(max(0, math.ceil(c / PAGE_SIZE) - 1) for c in per_parent)
                return int(parents) + extra
            if not ids:
                return 0
            per_parent = connection.execute(
                sa.select(sa.func.count())
                .where(table.c.linked_account_id == account_id, table.c.id.in_(list(ids)))
                .group_by(table.c[PARENT_ID])
            ).scalars()
            return sum(math.ceil(c / PAGE_SIZE) for c in per_parent)


def _why(result: SyncResult, calls: int, minimum: int, policy: str | None) -> str:
    """The engine's own account of calls above the minimum."""
    if calls <= minimum:
        return ""
    reasons = []
    if result.nested_policy is not None:
        reasons.append(
            f"{result.parents_listed} parents listed, {result.parents_skipped} skipped"
            + (" (full re-list)" if result.full_relist else "")
        )
    if result.confirmation_listings:
        reasons.append(f"{result.confirmation_listings} confirmation listing(s)")
    if result.full_fetch and result.nested_policy is None:
        reasons.append("full listing")
    if result.retries:
        reasons.append(f"{result.retries} retries")
    if calls > result.pages:
        reasons.append(f"{calls - result.pages} calls beyond pages (quarantine re-fetch?)")
    if not reasons:
        reasons.append(f"{result.pages} pages for {result.records_received} records")
    return "; ".join(reasons)


def _row(
    account: Account,
    model: CommonModel,
    sync: str,
    changed: int,
    minimum: int,
    measured: dict[str, Any],
    policy: str | None = None,
    stale: int = 0,
) -> dict[str, Any]:
    result: SyncResult = measured["result"]
    calls = int(measured["calls"])
    return {
        "account": account.category,
        "model": model.model_id,
        "sync": sync,
        "policy": policy or "",
        "changed": changed,
        "received": result.records_received,
        "calls": calls,
        "minimum": minimum,
        "calls/min": ratio(calls, minimum) if minimum else (None if calls == 0 else float("inf")),
        "stale": stale,
        "engine_calls": int(measured["engine_calls"]),
        "why": _why(result, calls, minimum, policy),
    }


def run(records: int, percents: Sequence[int] = PERCENTS) -> list[dict[str, Any]]:
    catalog = load_catalog()
    rows: list[dict[str, Any]] = []
    with (
        sandbox_process(
            accounts=1, records=1, api_key=API_KEY, seed=1414, extra_args=["--categories", "hris"]
        ) as sandbox,
        bench_database("bench_calls") as engine,
    ):
        sandbox.admin.sync_schedule(every_seconds=0)  # Merge's own syncs would change records
        settings = Settings(
            api_key=SecretStr(API_KEY),
            token_encryption_key=SecretStr(generate_key()),
            base_url=sandbox.base_url,
            rate_limit_per_minute=1_000_000,
            page_size=PAGE_SIZE,
            _env_file=None,
        )
        bench = Bench(engine, settings, sandbox.admin)
        changed_parents = SyncOptions(nested_policy=NestedPolicy.CHANGED_PARENTS)
        every_parent = SyncOptions(nested_policy=NestedPolicy.EVERY_PARENT)
        for category in ("hris", "ats"):
            info = sandbox.admin.create_account(category, records=records)
            account = Account(
                category,
                AccountCredentials(info.id, SecretStr(info.account_token)),
                dependency_order(catalog.category(category)),
            )
            for model in account.models:
                truth = sandbox.admin.records(info.id, model.model_id)
                account.ids[model.model_id] = [
                    key for key in truth.by_key() if key not in truth.deleted
                ]
                flat_minimum = minimum_calls(len(truth.records), incremental=False)
                if model.is_nested:
                    measured = bench.sync(account, model, changed_parents)
                    minimum = bench.parent_pages(account, model, None)
                    rows.append(_row(account, model, "initial", 0, minimum, measured, "any"))
                else:
                    measured = bench.sync(account, model, changed_parents)
                    rows.append(_row(account, model, "initial", 0, flat_minimum, measured))
            for percent in percents:
                changes: dict[str, list[str]] = {}  # the changed keys (stale is checked on them)
                counts: dict[str, int] = {}
                for model in account.models:
                    ids = account.ids[model.model_id]
                    count = counts[model.model_id] = math.ceil(len(ids) * percent / 100)
                    changes[model.model_id] = ids[:count] if model.key == "id" else []
                    if count and model.key == "id":
                        sandbox.admin.update_records(info.id, model.model_id, ids[:count])
                    elif count:  # keyed by remote_id: the sandbox picks the records
                        sandbox.admin.mutate(info.id, model.model_id, updates=count)
                sandbox.admin.advance_clock(CLOCK_STEP_S)
                label = f"{percent}% changed"
                for model in account.models:
                    changed = changes[model.model_id]
                    count = counts[model.model_id]
                    if not model.is_nested:
                        measured = bench.sync(account, model, changed_parents)
                        minimum = minimum_calls(count, incremental=model.supports_modified_after)
                        stale = bench.stale(account, model, changed)
                        rows.append(
                            _row(account, model, label, count, minimum, measured, None, stale)
                        )
                        continue
                    minimum = bench.parent_pages(account, model, changed)
                    for name, options in (
                        ("changed-parents", changed_parents),
                        ("every-parent", every_parent),
                    ):
                        measured = bench.sync(account, model, options)
                        stale = bench.stale(account, model, changed)
                        rows.append(
                            _row(account, model, label, count, minimum, measured, name, stale)
                        )
            for model in account.models:  # children changed under parents that did not
                if not model.is_nested:
                    continue
                ids = account.ids[model.model_id]
                changed = ids[len(ids) - math.ceil(len(ids) * CHILDREN_ONLY_PERCENT / 100) :]
                sandbox.admin.update_records(info.id, model.model_id, changed)
                sandbox.admin.advance_clock(CLOCK_STEP_S)
                minimum = bench.parent_pages(account, model, changed)
                label = f"{CHILDREN_ONLY_PERCENT}% of children only"
                for name, options in (
                    ("changed-parents", changed_parents),
                    ("every-parent", every_parent),
                ):
                    measured = bench.sync(account, model, options)
                    stale = bench.stale(account, model, changed)
                    rows.append(
                        _row(account, model, label, len(changed), minimum, measured, name, stale)
                    )
            sweep = SyncOptions(
                deletion_sweep=timedelta(0), nested_policy=NestedPolicy.CHANGED_PARENTS
            )
            for model in account.models:
                if model.is_nested:
                    continue
                measured = bench.sync(account, model, sweep)
                total = len(sandbox.admin.records(info.id, model.model_id).records)
                rows.append(
                    _row(account, model, "deletion sweep", 0, minimum_calls(total, False), measured)
                )
    return rows


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per account, sync and policy: the sums over models (the table worth printing)."""
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        policy = row["policy"] if row["policy"] not in ("", "any") else ""
        key = (row["account"], row["sync"], policy)
        group = groups.setdefault(
            key,
            {
                "account": key[0],
                "sync": key[1],
                "nested policy": key[2] or "(flat models)",
                "models": 0,
                "changed": 0,
                "calls": 0,
                "minimum": 0,
                "stale": 0,
                "over": 0,
            },
        )
        group["models"] += 1
        group["changed"] += row["changed"]
        group["calls"] += row["calls"]
        group["minimum"] += row["minimum"]
        group["stale"] += row["stale"]
        group["over"] += int(row["calls"] > row["minimum"])
    summary = list(groups.values())
    for group in summary:
        group["calls/min"] = ratio(group["calls"], group["minimum"])
        group["label"] = f"{group['account']} {group['sync']} {key_policy(group)}".strip()
    return summary


def key_policy(group: dict[str, Any]) -> str:
    policy = str(group["nested policy"])
    return "" if policy.startswith("(") else policy


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description="calls per model against the minimum")
    parser.add_argument("--records", type=int, default=20_000, help="records per account")
    args = parser.parse_args(argv)
    rows = run(args.records)
    summary = summarize(rows)
    over = [r for r in rows if r["calls"] > r["minimum"]]
    mismatched = [r for r in rows if r["calls"] != r["engine_calls"]]
    notes = [f"{len(over)} of {len(rows)} (model, sync) pairs spent more than the minimum:"]
    notes += [
        f"  {r['model']} {r['sync']} {r['policy']}: {r['calls']} calls vs {r['minimum']} "
        f"({r['why']})"
        for r in over
    ]
    notes += [
        f"stale after the sync: {r['model']} {r['sync']} {r['policy']}: {r['stale']} of "
        f"{r['changed']} changed records ({r['calls']} calls vs a minimum of {r['minimum']})"
        for r in rows
        if r["stale"]
    ]
    notes.append(
        "sandbox count == engine count for every sync"
        if not mismatched
        else f"{len(mismatched)} syncs where the engine's count differs from the sandbox's"
    )
    publish(
        "calls",
        f"Calls vs the minimum ({args.records} records per account, page size {PAGE_SIZE}; "
        "sums over models)",
        summary,
        [
            "account",
            "sync",
            "nested policy",
            "models",
            "changed",
            "calls",
            "minimum",
            "calls/min",
            "over",
            "stale",
        ],
        parameters={
            "records_per_account": args.records,
            "page_size": PAGE_SIZE,
            "percents": list(PERCENTS),
            "per_model": rows,
        },
        plot={
            "x": "label",
            "y": ["calls", "minimum"],
            "kind": "bar",
            "log": True,
            "ylabel": "calls (log)",
        },
        notes=notes,
    )
    return rows


if __name__ == "__main__":
    main()

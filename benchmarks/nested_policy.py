"""What each nested-model policy costs in calls, against the incremental models of the account.

One ATS account is mirrored in full, then synced again with nothing changed: every model that
Merge filters by ``modified_after`` (one call each), and ``ats.ScreeningQuestion`` (listed job by
job, no ``modified_after``) under each policy. Then a few jobs change and the questions are
synced once more under ``changed-parents``. Printed: calls, parents listed and skipped, and the
nightly average when a full re-list falls due every seventh night.

Run: ``python -m benchmarks.nested_policy [--records N] [--changed-jobs K]``.
"""

import argparse
import uuid
from datetime import timedelta

import sqlalchemy as sa
from pydantic import SecretStr

from benchmarks.report import publish, ratio
from benchmarks.support import bench_database
from merge_pipeline.catalog import load_catalog
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.credentials import AccountCredentials
from merge_pipeline.settings import Settings
from merge_pipeline.sync.engine import ModelSync, SyncOptions
from merge_pipeline.sync.nested_policy import NestedPolicy
from merge_pipeline.sync.result import SyncResult
from merge_pipeline.sync.runner import dependency_order
from merge_pipeline.warehouse.vault import generate_key
from merge_sandbox.testing import sandbox_process

API_KEY = "bench-api-key"
NESTED = "ats.ScreeningQuestion"
NIGHTS_PER_FULL_RELIST = 7


def _sync(
    engine: sa.Engine,
    settings: Settings,
    account: AccountCredentials,
    model_id: str,
    options: SyncOptions,
) -> SyncResult:
    with MergeClient(settings) as client:
        return ModelSync(
            engine,
            client,
            account,
            load_catalog().model(model_id),
            options=options,
            sync_run_id=f"bench-{uuid.uuid4()}",
        ).run()


def _row(name: str, result: SyncResult) -> str:
    return (
        f"  {name:<56} {result.api_calls:5d} calls  {result.parents_listed:5d} listed "
        f"{result.parents_skipped:5d} skipped  full re-list: {result.full_relist}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="calls per nested-model policy")
    parser.add_argument("--records", type=int, default=4_000)
    parser.add_argument("--changed-jobs", type=int, default=10)
    args = parser.parse_args(argv)
    catalog = load_catalog()
    models = dependency_order(catalog.category("ats"))
    incremental = [m.model_id for m in models if not m.is_nested and m.supports_modified_after]
    every = SyncOptions(nested_policy=NestedPolicy.EVERY_PARENT)
    changed = SyncOptions(nested_policy=NestedPolicy.CHANGED_PARENTS)
    due = SyncOptions(
        nested_policy=NestedPolicy.CHANGED_PARENTS, nested_full_relist_every=timedelta(0)
    )
    with (
        sandbox_process(accounts=1, records=1, api_key=API_KEY, extra_args=["--categories", "ats"])
        as sandbox,
        bench_database("bench_nested") as engine,
    ):  # fmt: skip
        settings = Settings(
            api_key=SecretStr(API_KEY),
            token_encryption_key=SecretStr(generate_key()),
            base_url=sandbox.base_url,
            rate_limit_per_minute=1_000_000,
            _env_file=None,
        )
        info = sandbox.admin.create_account("ats", records=args.records)
        account = AccountCredentials(info.id, SecretStr(info.account_token))
        initial = sum(
            _sync(engine, settings, account, m.model_id, every).records_received for m in models
        )
        flat = [_sync(engine, settings, account, model_id, every) for model_id in incremental]
        flat_calls = sum(r.api_calls for r in flat)
        rows = {
            "every-parent": _sync(engine, settings, account, NESTED, every),
            "changed-parents, nothing changed": _sync(engine, settings, account, NESTED, changed),
            "changed-parents, full re-list due": _sync(engine, settings, account, NESTED, due),
        }
        sandbox.admin.sync(info.id, updates=args.changed_jobs, models=["ats.Job"])
        _sync(engine, settings, account, "ats.Job", every)
        rows[f"changed-parents, {args.changed_jobs} jobs changed"] = _sync(
            engine, settings, account, NESTED, changed
        )
    full = rows["changed-parents, full re-list due"].api_calls
    quiet = rows["changed-parents, nothing changed"].api_calls
    nightly = (full + (NIGHTS_PER_FULL_RELIST - 1) * quiet) / NIGHTS_PER_FULL_RELIST
    every_calls = rows["every-parent"].api_calls
    table = [
        {
            "sync": f"{len(incremental)} incremental models, nothing changed",
            "calls": flat_calls,
            "x every-parent": ratio(flat_calls, every_calls),
        }
    ]
    table += [
        {
            "sync": f"{NESTED} {name}",
            "calls": r.api_calls,
            "listed": r.parents_listed,
            "skipped": r.parents_skipped,
            "full re-list": r.full_relist,
            "x every-parent": ratio(r.api_calls, every_calls),
        }
        for name, r in rows.items()
    ]
    table.append(
        {
            "sync": f"{NESTED} changed-parents, nightly average (full re-list every "
            f"{NIGHTS_PER_FULL_RELIST} nights)",
            "calls": nightly,
            "x every-parent": ratio(nightly, every_calls),
        }
    )
    publish(
        "nested_policy",
        f"ATS account of {initial} records: calls per nested policy",
        table,
        ["sync", "calls", "listed", "skipped", "full re-list", "x every-parent"],
        parameters=vars(args),
        plot={"x": "sync", "y": ["calls"], "ylabel": "calls", "log": True},
    )


if __name__ == "__main__":
    main()

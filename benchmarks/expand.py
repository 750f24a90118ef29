"""What ``expand`` saves and costs: one expanded sync against syncing each related model.

For ``hris.Employee`` with every expandable relation that is a Common Model, compare
(a) one sync of Employee with ``expand=...``, which also fills the related tables, with
(b) syncing Employee plus each related model from its own list endpoint. Printed: API calls,
bytes and seconds of each, and how many related rows each approach stored.

Run: ``python -m benchmarks.expand [--records N]`` (records of the hris account).
"""

import argparse
import uuid
from dataclasses import dataclass

from pydantic import SecretStr

from benchmarks.report import publish, ratio
from benchmarks.support import bench_database
from merge_pipeline.catalog import load_catalog
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.credentials import AccountCredentials
from merge_pipeline.settings import Settings
from merge_pipeline.sync.engine import ModelSync, SyncOptions
from merge_pipeline.warehouse.vault import generate_key
from merge_sandbox.testing import sandbox_process

MODEL = "hris.Employee"
API_KEY = "bench-api-key"


@dataclass
class Cost:
    calls: int = 0
    bytes: int = 0
    seconds: float = 0.0
    related_rows: int = 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="expand against separate syncs")
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args(argv)
    catalog = load_catalog()
    model = catalog.model(MODEL)
    category = catalog.category(model.category)
    expand = tuple(f.name for f in model.references if f.ref in category.models)
    related = sorted({str(f.ref) for f in model.references if f.name in expand} - {model.name})
    with (
        sandbox_process(accounts=1, records=1, api_key=API_KEY, extra_args=["--categories", "hris"])
        as sandbox,
        bench_database("bench_expand") as engine,
    ):  # fmt: skip
        settings = Settings(
            api_key=SecretStr(API_KEY),
            token_encryption_key=SecretStr(generate_key()),
            base_url=sandbox.base_url,
            rate_limit_per_minute=1_000_000,
            _env_file=None,
        )
        costs: dict[str, Cost] = {}
        for approach in ("expanded", "separate"):
            info = sandbox.admin.create_account("hris", records=args.records)
            account = AccountCredentials(info.id, SecretStr(info.account_token))
            cost = Cost()
            plan = (
                [(MODEL, expand)]
                if approach == "expanded"
                else [(MODEL, ()), *((f"hris.{name}", ()) for name in related)]
            )
            for model_id, relations in plan:
                with MergeClient(settings) as client:
                    result = ModelSync(
                        engine,
                        client,
                        account,
                        catalog.model(model_id),
                        options=SyncOptions(expand=relations),
                        sync_run_id=f"bench-{uuid.uuid4()}",
                    ).run()
                cost.calls += result.api_calls
                cost.bytes += result.bytes
                cost.seconds += result.duration_s
                cost.related_rows += (
                    sum(result.related_upserted.values())
                    if approach == "expanded"
                    else (result.records_inserted if model_id != MODEL else 0)
                )
            costs[approach] = cost
    expanded, separate = costs["expanded"], costs["separate"]
    rows = [
        {
            "approach": name,
            "calls": cost.calls,
            "MB": cost.bytes / 1e6,
            "seconds": cost.seconds,
            "related rows": cost.related_rows,
            "calls x separate": ratio(cost.calls, separate.calls),
            "bytes x separate": ratio(cost.bytes, separate.bytes),
            "time x separate": ratio(cost.seconds, separate.seconds),
        }
        for name, cost in costs.items()
    ]
    publish(
        "expand",
        f"{MODEL} with expand={','.join(expand)} vs syncing {MODEL} and {', '.join(related)} "
        f"separately ({args.records} records)",
        rows,
        [
            "approach",
            "calls",
            "MB",
            "seconds",
            "related rows",
            "calls x separate",
            "bytes x separate",
            "time x separate",
        ],
        parameters=vars(args),
        plot={"x": "approach", "y": ["calls x separate", "bytes x separate", "time x separate"]},
        notes=[
            f"expand saves {separate.calls - expanded.calls} calls; it stores only the related "
            "rows employees point to"
        ],
    )


if __name__ == "__main__":
    main()

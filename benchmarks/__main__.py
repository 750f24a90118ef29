"""``make bench`` / ``make bench-quick``: every benchmark, each printing ratios against its
in-run ceiling or minimum and writing JSON and a PNG under ``benchmarks/results/``.

``--quick`` runs each one small (a few minutes in all: the landing checks run it); without it
the full sizes run (under 30 minutes on 2 cores). A failing benchmark does not stop the others;
the exit status says whether all passed, and the last lines give each stage's wall time.
"""

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks import (
    calls,
    dagster_accounts,
    dagster_overhead,
    expand,
    nested_policy,
    rate_limit,
    rate_use,
    scaling,
    sensor_ticks,
    sync,
    throughput,
    triggers,
    upsert,
    webhook_burst,
)
from benchmarks.report import publish

Stage = tuple[str, Callable[[list[str]], Any], list[str]]

FULL: Sequence[Stage] = (
    ("upsert", upsert.main, []),
    # "sync" (an initial sync against bare paging, and its RSS) is "throughput" at 1M records
    # against both ceilings, with the latency variants: `python -m benchmarks.sync` on its own
    ("expand", expand.main, []),
    ("nested_policy", nested_policy.main, []),
    ("calls", calls.main, ["--records", "5000"]),
    ("triggers", triggers.main, ["--hours", "4", "--poll-ticks", "20"]),
    ("rate_use", rate_use.main, ["--accounts", "1", "10", "100"]),
    ("scaling", scaling.main, ["--records", "1000", "--changes", "50"]),
    ("rate_limit", rate_limit.main, []),
    ("sensor_ticks", sensor_ticks.main, ["--accounts", "500"]),
    # one run each: "dagster_accounts" measures the per-run overhead over 100 runs
    ("dagster_overhead", dagster_overhead.main, ["--runs", "1"]),
    ("webhook_burst", webhook_burst.main, ["--events", "10000"]),
    ("throughput", throughput.main, ["--latency", "0", "0.1", "0.5", "--latency-records", "20000"]),
    # 10 accounts: 100 take most of an hour of runs on 2 cores (make bench has 30 minutes);
    # `python -m benchmarks.dagster_accounts --accounts 100` gives the full figure
    ("dagster_accounts", dagster_accounts.main, ["--accounts", "10", "--webhooks", "3"]),
)

QUICK: Sequence[Stage] = (
    ("upsert", upsert.main, ["--records", "2000"]),
    ("sync", sync.main, ["--records", "2000"]),
    ("expand", expand.main, ["--records", "2000"]),
    ("nested_policy", nested_policy.main, ["--records", "1000", "--changed-jobs", "3"]),
    ("calls", calls.main, ["--records", "1000"]),
    ("triggers", triggers.main, ["--hours", "1", "--poll-ticks", "10", "--records", "300"]),
    ("rate_use", rate_use.main, ["--accounts", "1", "10", "--records", "300"]),
    ("scaling", scaling.main, ["--records", "100", "--changes", "30"]),
    ("rate_limit", rate_limit.main, ["--acquires", "100"]),
    ("sensor_ticks", sensor_ticks.main, ["--accounts", "30"]),
    # the per-run overhead comes from "dagster_accounts" below: one daemon start-up, not two
    ("webhook_burst", webhook_burst.main, ["--events", "1000"]),
    ("throughput", throughput.main, ["--records", "10000", "--latency-records", "2000"]),
    (
        "dagster_accounts",
        dagster_accounts.main,
        ["--accounts", "2", "--records", "100", "--webhooks", "1"],
    ),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (minutes, not half hours)"
    )
    parser.add_argument("--only", nargs="+", default=None, help="run only these stages")
    args = parser.parse_args(argv)
    stages = [s for s in (QUICK if args.quick else FULL) if not args.only or s[0] in args.only]
    timings: list[dict[str, Any]] = []
    started = time.perf_counter()
    for name, function, stage_args in stages:
        print(f"\n== {name} {' '.join(stage_args)}", flush=True)
        stage_started = time.perf_counter()
        status = "ok"
        try:
            function(list(stage_args))
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            status = "FAILED"
        seconds = time.perf_counter() - stage_started
        timings.append({"stage": name, "seconds": round(seconds, 1), "status": status})
        sys.stdout.flush()
    total = time.perf_counter() - started
    for row in timings:
        row["share"] = round(row["seconds"] / total, 3) if total else None
    slowest = max(timings, key=lambda r: r["seconds"]) if timings else None
    print()
    publish(
        ("stages_quick" if args.quick else "stages") + ("_partial" if args.only else ""),
        f"{'make bench-quick' if args.quick else 'make bench'}: {total:.0f} s in all",
        timings,
        ["stage", "seconds", "share", "status"],
        parameters={"quick": args.quick, "total_s": round(total, 1)},
        plot={"x": "stage", "y": ["seconds"], "kind": "bar", "ylabel": "seconds"},
        notes=[f"slowest stage: {slowest['stage']} ({slowest['seconds']} s)"] if slowest else [],
    )
    return 0 if all(r["status"] == "ok" for r in timings) else 1


if __name__ == "__main__":
    sys.exit(main())

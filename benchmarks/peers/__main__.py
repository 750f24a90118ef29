"""``python -m benchmarks.peers [--records N] [--trials T]`` (``make bench-peers``).

Prints each sync as it ends, then the medians over trials (ratios to merge-pipeline's figures
in the same trial and phase), and writes ``peers.json`` (every trial's rows too) and
``peers.png`` under ``benchmarks/results/``.
"""

import argparse
import os
import platform
import sys
import time
from typing import Any

from benchmarks.peers import summary, trials, venvs
from benchmarks.report import publish


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=60_000, help="records, half ATS half HRIS")
    parser.add_argument("--trials", type=int, default=3, help="trials (each on fresh data)")
    parser.add_argument(
        "--peers", nargs="+", default=list(trials.PEERS), choices=trials.PEERS, help="who runs"
    )
    args = parser.parse_args(argv)
    chosen = [p for p in trials.PEERS if p in args.peers]
    if trials.OURS not in chosen:
        parser.error("merge-pipeline is the reference of every ratio: keep it in --peers")
    for peer in (venvs.DLT, venvs.AIRBYTE):  # before the clock starts
        venvs.ensure(peer)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    disk: dict[str, Any] = {}
    for index in range(args.trials):
        print(f"trial {index + 1} of {args.trials}", flush=True)
        trial_rows, disk = trials.run_trial(index, args.records, chosen)
        rows += trial_rows
    rows = summary.with_ratios(rows, trials.OURS)
    medians = summary.medians(rows, trials.PHASES, chosen)
    notes = [
        f"{disk['records']} records in the sandbox (ATS + HRIS, 33 models); "
        f"{disk.get('changed')} before the incremental sync",
        f"disk per record after the syncs: merge-pipeline {disk['ours bytes/record']} B "
        f"({disk['ours tables']} tables, typed columns + the whole record as JSON, of which "
        f"{disk['ours JSON bytes/record']} B the JSON as stored); dlt "
        f"{disk['dlt bytes/record']} B ({disk['dlt tables']} tables incl. child tables of "
        f"nested lists; its own _dlt_* tables, {disk['dlt internal bytes']} B, left out)",
        "Airbyte's Merge source covers 12 ATS models, full refresh only: its ratios compare "
        "unlike scopes (its calls and time are for the ATS account alone)",
        *[
            f"wrong rows, {r['peer']}, {r['phase']} (trial {r['trial']}): {r['wrong where'][:200]}"
            for r in rows
            if r["wrong where"] and r["trial"] == args.trials
        ],
        f"{time.perf_counter() - started:.0f} s in all; machine: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    ]
    publish(
        "peers",
        f"merge-pipeline vs dlt vs Airbyte's Merge source, {args.records} records, "
        f"{args.trials} trials (medians; x ours = ratio to merge-pipeline, same trial)",
        medians,
        [
            "phase",
            "peer",
            "seconds",
            "x ours s",
            "CPU s",
            "x ours CPU",
            "peak RSS MiB",
            "x ours RSS",
            "calls",
            "x ours calls",
            "missing",
            "stale",
            "wrongly deleted",
            "extra",
        ],
        parameters={**vars(args), "trials_rows": rows, "disk": disk},
        plot={"x": "label", "y": ["seconds", "CPU s"], "kind": "bar", "ylabel": "seconds"},
        notes=notes,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

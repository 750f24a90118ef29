"""``python -m merge_pipeline_tests.chaos [--scenarios N] [--seed S] [--dagster D]``.

Prints the report and writes it as JSON (``--output``); exits 1 when any difference was found
or a fault kind was never injected.
"""

import argparse
import sys
from pathlib import Path

from merge_pipeline_tests.chaos.faults import DAGSTER_KINDS, FAULT_KINDS
from merge_pipeline_tests.chaos.runner import plan, run


def default_dagster(scenarios: int) -> int:
    """One in fifty through the daemon (a Dagster scenario costs several CLI ones), and at
    least one in any run long enough to cover every fault kind."""
    if scenarios >= 50:
        return scenarios // 50
    return 1 if scenarios >= len(FAULT_KINDS) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m merge_pipeline_tests.chaos")
    parser.add_argument("--scenarios", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2001, help="first scenario's seed")
    parser.add_argument(
        "--dagster", type=int, default=None,
        help="how many scenarios go through the Dagster daemon (default: one in fifty)",
    )  # fmt: skip
    parser.add_argument("--no-shrink", action="store_true", help="report failures unshrunk")
    parser.add_argument(
        "--budget-s", type=float, default=None,
        help="start no scenario after this many seconds (a time-boxed run)",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, default=Path("chaos-report.json"))
    args = parser.parse_args(argv)
    dagster = default_dagster(args.scenarios) if args.dagster is None else args.dagster
    scenarios = plan(args.scenarios, args.seed, dagster=min(dagster, args.scenarios))
    report = run(scenarios, shrink_failures=not args.no_shrink, budget_s=args.budget_s)
    print(report.text())
    report.write(args.output)
    expected = set(FAULT_KINDS) - (set() if dagster else DAGSTER_KINDS)
    missing = report.missing_kinds(expected) if args.scenarios >= len(FAULT_KINDS) else []
    if missing:
        print(f"never injected: {', '.join(missing)}")
    return 1 if report.differences or missing else 0


if __name__ == "__main__":
    sys.exit(main())

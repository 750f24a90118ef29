"""A whole chaos run: plan the scenarios, run each on the shared stack, shrink failures."""

import contextlib
import time
from collections.abc import Iterator

from merge_pipeline_tests.chaos.faults import DAGSTER_KINDS, FAULT_KINDS
from merge_pipeline_tests.chaos.report import Failure, Report
from merge_pipeline_tests.chaos.scenario import run_scenario
from merge_pipeline_tests.chaos.shrink import shrink
from merge_pipeline_tests.chaos.stack import ChaosStack, chaos_stack
from merge_pipeline_tests.chaos.steps import Scenario, generate

#: the kinds a scenario can be asked to include, in the order plans cycle through them
COVERED = tuple(k for k in FAULT_KINDS if k not in DAGSTER_KINDS)


def plan(scenarios: int, seed: int, dagster: int = 0) -> list[Scenario]:
    """``scenarios`` scenarios from seeds ``seed``, ``seed + 1``...; scenario i must include
    fault kind i (cycling), so any run of len(COVERED) or more covers every kind; the last
    ``dagster`` of them go through the Dagster stack."""
    first_dagster = scenarios - dagster
    return [
        generate(
            seed + i,
            family="dagster" if i >= first_dagster else "cli",
            include={COVERED[i % len(COVERED)]},
        )
        for i in range(scenarios)
    ]


def _run_one(stack: ChaosStack, scenario: Scenario, dagster: "object | None") -> object:
    if scenario.family == "dagster":
        from merge_pipeline_tests.chaos.dagster_family import run_dagster_scenario

        return run_dagster_scenario(stack, dagster, scenario)
    return run_scenario(stack, scenario)


def short_plan(seed: int, scenarios: int = 3) -> list[Scenario]:
    """A few scenarios that between them include every fault kind (for ``make test``)."""
    return [generate(seed + i, include=set(COVERED[i::scenarios])) for i in range(scenarios)]


@contextlib.contextmanager
def _maybe_dagster(stack: ChaosStack, needed: bool) -> Iterator[object | None]:
    if not needed:
        yield None
        return
    from merge_pipeline_tests.chaos.dagster_family import dagster_family_stack

    with dagster_family_stack(stack) as running:
        yield running


def run(
    scenarios: list[Scenario],
    *,
    shrink_failures: bool = True,
    log: "contextlib.AbstractContextManager[None] | None" = None,
    echo: bool = True,
) -> Report:
    """Every scenario on one stack; the report (failures shrunk when asked)."""
    report = Report()
    started = time.monotonic()
    with chaos_stack() as stack:
        report.database = "external" if not stack.postgres.restartable else "embedded"
        needed = any(s.family == "dagster" for s in scenarios)
        with _maybe_dagster(stack, needed) as dagster:
            for number, scenario in enumerate(scenarios, 1):
                outcome = _run_one(stack, scenario, dagster)
                report.add(outcome)  # type: ignore[arg-type]
                if echo:
                    print(
                        f"[{number}/{len(scenarios)}] seed {scenario.seed} {scenario.family}: "
                        f"{outcome.records_compared} records, "  # type: ignore[attr-defined]
                        f"{len(outcome.differences)} differences, "  # type: ignore[attr-defined]
                        f"{outcome.seconds:.1f}s",  # type: ignore[attr-defined]
                        flush=True,
                    )
                if outcome.differences:  # type: ignore[attr-defined]
                    shrunk = scenario
                    if shrink_failures:
                        shrunk = shrink(
                            scenario,
                            lambda s: bool(_run_one(stack, s, dagster).differences),  # type: ignore[attr-defined]
                        )
                    report.failures.append(
                        Failure(
                            scenario.seed,
                            scenario.describe(),
                            shrunk.describe(),
                            list(outcome.differences),  # type: ignore[attr-defined]
                        )
                    )
    report.seconds = time.monotonic() - started
    return report

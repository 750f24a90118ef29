"""A whole chaos run: plan the scenarios, run each on the shared stack, shrink failures."""

import contextlib
import time
from collections.abc import Iterator

from merge_pipeline_tests.chaos.faults import DAGSTER_KINDS, FAULT_KINDS
from merge_pipeline_tests.chaos.report import Failure, Report
from merge_pipeline_tests.chaos.scenario import Outcome, run_scenario
from merge_pipeline_tests.chaos.shrink import shrink
from merge_pipeline_tests.chaos.stack import ChaosStack, chaos_stack
from merge_pipeline_tests.chaos.steps import Scenario, generate
from merge_pipeline_tests.dagster_stack import DagsterStack

#: the kinds a scenario can be asked to include, in the order plans cycle through them
COVERED = tuple(k for k in FAULT_KINDS if k not in DAGSTER_KINDS)


def plan(scenarios: int, seed: int, dagster: int = 0) -> list[Scenario]:
    """``scenarios`` scenarios from seeds ``seed``, ``seed + 1``...; CLI scenario i must
    include fault kind i (cycling), so any run of len(COVERED) or more covers every kind. The
    first ``dagster`` go through the Dagster stack (before any CLI account exists: the daemon's
    sensors would sync those too)."""
    return [
        generate(seed + i, family="dagster")
        if i < dagster
        else generate(seed + i, include={COVERED[i % len(COVERED)]})
        for i in range(scenarios)
    ]


def short_plan(seed: int, scenarios: int = 3, dagster: int = 1) -> list[Scenario]:
    """A few scenarios that between them include every fault kind (for ``make test``)."""
    return [generate(seed + 50 + i, family="dagster") for i in range(dagster)] + [
        generate(seed + i, include=set(COVERED[i::scenarios])) for i in range(scenarios)
    ]


def _run_one(stack: ChaosStack, scenario: Scenario, dagster: DagsterStack | None) -> Outcome:
    if scenario.family == "dagster":
        from merge_pipeline_tests.chaos.dagster_family import run_dagster_scenario

        assert dagster is not None
        return run_dagster_scenario(stack, dagster, scenario)
    return run_scenario(stack, scenario)


@contextlib.contextmanager
def _maybe_dagster(stack: ChaosStack, needed: bool) -> Iterator[DagsterStack | None]:
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
    echo: bool = True,
    budget_s: float | None = None,
) -> Report:
    """Every scenario on one stack, the Dagster family first (its daemon stopped after it);
    the report, failures shrunk when asked. With ``budget_s`` no scenario starts after that
    many seconds (the report says how many of the planned ones ran)."""
    report = Report()
    started = time.monotonic()
    number = 0
    with chaos_stack() as stack:
        report.database = "embedded" if stack.postgres.restartable else "external"
        for family in ("dagster", "cli"):
            chosen = [s for s in scenarios if (s.family == "dagster") == (family == "dagster")]
            with _maybe_dagster(stack, family == "dagster" and bool(chosen)) as dagster:
                for scenario in chosen:
                    if budget_s is not None and time.monotonic() - started > budget_s:
                        break
                    number += 1
                    outcome = _run_one(stack, scenario, dagster)
                    report.add(outcome)
                    if echo:
                        print(
                            f"[{number}/{len(scenarios)}] seed {scenario.seed} {family}: "
                            f"{outcome.records_compared} records, "
                            f"{len(outcome.differences)} differences, {outcome.seconds:.1f}s",
                            flush=True,
                        )
                    if outcome.differences:
                        report.failures.append(
                            _failure(stack, dagster, scenario, outcome, shrink_failures)
                        )
    report.seconds = time.monotonic() - started
    report.planned = len(scenarios)
    return report


def _failure(
    stack: ChaosStack,
    dagster: DagsterStack | None,
    scenario: Scenario,
    outcome: Outcome,
    shrink_failures: bool,
) -> Failure:
    shrunk = scenario
    if shrink_failures:
        shrunk = shrink(scenario, lambda s: _run_one(stack, s, dagster).failed)
    return Failure(scenario.seed, scenario.describe(), shrunk.describe(), outcome.differences)

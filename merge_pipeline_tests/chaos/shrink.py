"""Delta debugging of a failing scenario's steps: the smallest list that still fails.

Zeller's ddmin over the step list (the scenario's setting, account and first sync kept):
drop chunks of steps, halving the chunk size, and keep any shorter list whose re-run on the
real stack still shows a difference. Re-runs are real, so the number of them is capped.
"""

from collections.abc import Callable

from merge_pipeline_tests.chaos.steps import Scenario

#: re-runs a shrink may spend (each is a whole scenario on the real stack)
MAX_RUNS = 24


def shrink(
    scenario: Scenario, fails: Callable[[Scenario], bool], max_runs: int = MAX_RUNS
) -> Scenario:
    """The smallest step list found for which ``fails`` still holds."""
    head, steps = scenario.steps[:1], list(scenario.steps[1:])
    runs = 0
    chunks = 2
    while len(steps) >= 1 and runs < max_runs:
        size = max(1, len(steps) // chunks)
        reduced = False
        for start in range(0, len(steps), size):
            candidate = steps[:start] + steps[start + size :]
            runs += 1
            if fails(scenario.with_steps(head + tuple(candidate))):
                steps, chunks, reduced = candidate, max(chunks - 1, 2), True
                break
            if runs >= max_runs:
                break
        if not reduced:
            if size == 1:
                break
            chunks = min(len(steps), chunks * 2)
    return scenario.with_steps(head + tuple(steps))

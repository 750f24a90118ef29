"""The chaos harness's pure parts: scenarios replay from their seed alone, a plan covers every
fault kind, and delta debugging keeps exactly the steps a failure needs."""

from merge_pipeline_tests.chaos.faults import DAGSTER_KINDS, FAULT_KINDS
from merge_pipeline_tests.chaos.runner import COVERED, plan, short_plan
from merge_pipeline_tests.chaos.shrink import shrink
from merge_pipeline_tests.chaos.steps import ADVERSITIES, WEBHOOK_SETTINGS, Scenario, generate


def _kinds(scenario: Scenario) -> set[str]:
    """The fault kinds a scenario's setting and steps are bound to inject."""
    kinds = {k for k, (switch, _) in ADVERSITIES.items() if switch in scenario.adversity}
    kinds |= {k for k, setting in WEBHOOK_SETTINGS.items() if setting in scenario.webhooks}
    kinds |= {"clock_skew"} if scenario.skew_seconds else set()
    for step in scenario.steps:
        args = step.args
        kinds |= {args[k] for k in ("api_fault", "during", "fault") if args.get(k)}
        kinds |= {"sync_killed"} if args.get("kill_after") and step.kind == "sync" else set()
        if step.kind == "change":
            kinds |= {"records_created", "records_updated"} if args["creates"] else set()
            kinds |= {"soft_deletes"} if args["deletes"] else set()
        kinds |= {
            "receiver_kill": {"receiver_killed"},
            "webhooks_lost": {"webhook_lost"},
            "daemon_kill": {"daemon_killed"},
            "code_server_kill": {"code_server_killed"},
        }.get(step.kind, set())
    return kinds


def test_a_seed_always_gives_the_same_scenario() -> None:
    assert generate(2301) == generate(2301)
    assert generate(2301) != generate(2302)


def test_the_short_plan_is_bound_to_inject_every_fault_kind() -> None:
    covered = set().union(*(_kinds(s) for s in short_plan(2901)))
    assert set(FAULT_KINDS) - covered == set()


def test_a_plan_as_long_as_the_kinds_covers_every_non_dagster_kind() -> None:
    covered = set().union(*(_kinds(s) for s in plan(len(COVERED), 2401)))
    assert set(FAULT_KINDS) - DAGSTER_KINDS - covered == set()


def test_shrinking_keeps_exactly_the_steps_the_failure_needs() -> None:
    scenario = generate(2501, include={"sync_killed", "webhook_lost", "receiver_killed"})
    kinds = ("webhooks_lost", "receiver_kill")
    culprits = {str(s) for s in scenario.steps[1:] if s.kind in kinds}

    def fails(candidate: Scenario) -> bool:
        return culprits <= {str(s) for s in candidate.steps}

    shrunk = shrink(scenario, fails, max_runs=200)
    assert [str(s) for s in shrunk.steps[1:]] == [
        str(s) for s in scenario.steps[1:] if str(s) in culprits
    ]

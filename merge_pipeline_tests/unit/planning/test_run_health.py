"""Dead runs: STARTED without an account lease, twice in a row, after a grace period."""

from merge_pipeline.planning.run_health import StartedRun, judge_runs

NOW = 10_000.0
OLD = StartedRun("run-old", "acct-1", started_at=NOW - 600)
YOUNG = StartedRun("run-young", "acct-2", started_at=NOW - 10)


def test_run_without_lease_is_first_a_suspect() -> None:
    verdicts = judge_runs([OLD], leased=set(), suspects=set(), now=NOW, grace_s=120)
    assert (verdicts.dead, verdicts.suspects) == ((), frozenset({"run-old"}))


def test_suspect_still_without_lease_is_dead() -> None:
    verdicts = judge_runs([OLD], leased=set(), suspects={"run-old"}, now=NOW, grace_s=120)
    assert verdicts.dead == ("run-old",)


def test_run_holding_its_lease_is_cleared_of_suspicion() -> None:
    verdicts = judge_runs([OLD], leased={"acct-1"}, suspects={"run-old"}, now=NOW, grace_s=120)
    assert (verdicts.dead, verdicts.suspects) == ((), frozenset())


def test_run_within_grace_period_is_never_suspected() -> None:
    """It may still be loading code before it takes the lease."""
    verdicts = judge_runs([YOUNG], leased=set(), suspects={"run-young"}, now=NOW, grace_s=120)
    assert (verdicts.dead, verdicts.suspects) == ((), frozenset())

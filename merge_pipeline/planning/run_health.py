"""Which sync runs are dead: Dagster says STARTED, but nobody holds the account's lease.

A run takes its account's lease (``warehouse.run_leases``) as it starts syncing and PostgreSQL
drops it when the run's process dies. Dagster's default run launcher cannot tell that a run's
process is gone, so without this a killed run would hold its account's queue slot until the
maximum runtime. A run is failed only after it was seen without a lease on two consecutive
checks, both past a grace period, so a run that is still starting up, or that has just released
its lease while finishing, is never failed.
"""

from collections.abc import Iterable, Set
from dataclasses import dataclass


@dataclass(frozen=True)
class StartedRun:
    run_id: str
    account_id: str
    started_at: float  # epoch seconds


@dataclass(frozen=True)
class RunVerdicts:
    dead: tuple[str, ...]  # run ids to fail now
    suspects: frozenset[str]  # run ids to check again next time


def judge_runs(
    runs: Iterable[StartedRun],
    *,
    leased: Set[str],
    suspects: Set[str],
    now: float,
    grace_s: float,
) -> RunVerdicts:
    """Runs past ``grace_s`` whose account has no lease are suspects; suspects twice are dead."""
    dead: list[str] = []
    new_suspects: set[str] = set()
    for run in runs:
        if run.account_id in leased or now - run.started_at < grace_s:
            continue
        if run.run_id in suspects:
            dead.append(run.run_id)
        else:
            new_suspects.add(run.run_id)
    return RunVerdicts(dead=tuple(sorted(dead)), suspects=frozenset(new_suspects))

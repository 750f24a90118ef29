"""How many runs one sensor tick requests, and which come first.

The daemon creates a tick's runs one at a time (a code-server call and several writes each), and
a sensor does not tick again before its last tick's runs exist: at 1,000 accounts, a discovery
tick asking for every initial sync kept its sensor busy for over five minutes. So each tick asks
for at most ``MERGE_PIPELINE_RUN_REQUESTS_PER_TICK`` runs, and the rest stays where it came from:
a partition without any run still awaits its initial sync, a reported Merge sync that no run was
requested for is still pending in the database. The next tick takes them, oldest first. The
queue starts runs no faster than its concurrency allows, so a full queue loses no time by this;
and while ``MERGE_PIPELINE_MAX_QUEUED_RUNS`` runs already wait in it, ticks request none.
"""

from collections.abc import Iterable, Mapping, Sequence, Set
from datetime import datetime
from itertools import chain, zip_longest

from merge_pipeline.planning.sync_requests import PlannedRun


def tick_budget(per_tick: int, max_queued: int, queued: int) -> int:
    """Runs one tick may request: its share, and no more than the queue has room for
    (``max_queued`` 0 = the queue has no limit)."""
    if max_queued <= 0:
        return per_tick
    return max(0, min(per_tick, max_queued - queued))


def awaiting_initial_sync(
    partitions: Iterable[str], *, stored: Set[str], held: Set[str], with_runs: Set[str]
) -> list[str]:
    """Partitions whose account we hold a token for, that is not held, and that never had a
    run of any kind (any run did what an initial sync does), in a stable order."""
    return sorted(
        account
        for account in set(partitions)
        if account in stored and account not in held and account not in with_runs
    )


def initial_syncs_first(awaiting: Mapping[str, Sequence[str]], limit: int) -> list[tuple[str, str]]:
    """(category, account) pairs, at most ``limit``, taken from each category in turn, so a
    category of a thousand new accounts does not hold back another category's first one."""
    turns = zip_longest(*([(category, a) for a in ids] for category, ids in awaiting.items()))
    return [pair for pair in chain.from_iterable(turns) if pair is not None][: max(limit, 0)]


def waiting_since(run: PlannedRun) -> datetime | None:
    """When the oldest of the run's syncs was reported (None when no time is known)."""
    times = [sync.reported_at for sync in run.syncs if sync.reported_at is not None]
    return min(times) if times else None


def oldest_first(runs: Iterable[PlannedRun]) -> list[PlannedRun]:
    """Runs ordered by how long their syncs have waited (unknown times last), then account."""
    return sorted(
        runs,
        key=lambda run: (
            (since := waiting_since(run)) is None,
            since.timestamp() if since is not None else 0.0,
            run.account_id,
        ),
    )

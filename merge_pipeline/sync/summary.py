"""What an operator reads at the end of a sync: one summary line and the rate-limit advice.

Pure functions over sync results, shared by the CLI's output and Dagster's run metadata.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from merge_pipeline.sync.result import SyncResult

#: the setting that raises the per-account limit (Merge plans: CONTRACT.md §7)
RATE_LIMIT_SETTING = "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE"
#: a sync whose limiter waits exceed this share of its duration "mostly waited"
MOSTLY = 0.5


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 call``, ``2 calls``, ``1,234 records``."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def waited_mostly_on_limiter(result: SyncResult) -> bool:
    """Whether the sync spent most of its time waiting for our own rate limiter's slots."""
    return result.duration_s > 0 and result.rate_limit_wait_s > MOSTLY * result.duration_s


def rate_limit_advice(limit_per_minute: int | None = None) -> str:
    """Why the waits, and the setting that shortens them (the default is Merge's lowest plan)."""
    limit = (
        f"{plural(limit_per_minute, 'call')}/min" if limit_per_minute else "the configured limit"
    )
    return (
        f"the rate limit is {limit} per linked account (Merge's Launch plan allows 100, "
        f"Professional 400, Enterprise 600); if your plan allows more, raise {RATE_LIMIT_SETTING}"
    )


def limiter_warning(result: SyncResult, limit_per_minute: int | None = None) -> str | None:
    """One sync's warning when it mostly waited on the limiter (Dagster run metadata), else None."""
    if not waited_mostly_on_limiter(result):
        return None
    share = result.rate_limit_wait_s / result.duration_s
    return (
        f"this sync spent {share:.0%} of its {result.duration_s:.0f}s waiting on the rate "
        f"limiter: {rate_limit_advice(limit_per_minute)}"
    )


@dataclass(frozen=True, slots=True)
class Tally:
    """One invocation's figures (every pair, failed or not)."""

    accounts: int
    models: int
    syncs: int
    failed: int
    records: int
    calls: int
    rate_limit_wait_s: float
    limited_syncs: int


def tally(pairs: Sequence[tuple[str, str]], results: Sequence[SyncResult], failed: int) -> Tally:
    """Figures over every ``(account, model)`` pair tried and the results of those that ended."""
    return Tally(
        accounts=len({account for account, _ in pairs}),
        models=len({model for _, model in pairs}),
        syncs=len(pairs),
        failed=failed,
        records=sum(r.records_received for r in results),
        calls=sum(r.api_calls for r in results),
        rate_limit_wait_s=sum(r.rate_limit_wait_s for r in results),
        limited_syncs=sum(1 for r in results if waited_mostly_on_limiter(r)),
    )


def summary_line(figures: Tally, elapsed_s: float, run_id: str) -> str:
    """``4 accounts, 19 models (76 syncs): 1,234 records, 80 calls, 0 failed in 12.3s ...``."""
    return (
        f"{plural(figures.accounts, 'account')}, {plural(figures.models, 'model')} "
        f"({plural(figures.syncs, 'sync')}): {plural(figures.records, 'record')}, "
        f"{plural(figures.calls, 'call')}, {figures.failed:,} failed in {elapsed_s:.1f}s "
        f"(run {run_id})"
    )


def rate_limit_warning(figures: Tally, limit_per_minute: int) -> str | None:
    """A warning when syncs mostly waited on the limiter, else None."""
    if not figures.limited_syncs:
        return None
    return (
        f"{figures.limited_syncs} of {plural(figures.syncs, 'sync')} mostly waited on the rate "
        f"limiter ({figures.rate_limit_wait_s:.0f}s in all): "
        f"{rate_limit_advice(limit_per_minute)}"
    )

"""The end-of-sync summary and the rate-limit advice (pure)."""

import pytest

from merge_pipeline.sync.result import SyncResult
from merge_pipeline.sync.summary import (
    limiter_warning,
    plural,
    rate_limit_warning,
    summary_line,
    tally,
    waited_mostly_on_limiter,
)


def _result(account: str, model: str, **figures: float) -> SyncResult:
    result = SyncResult(account, model, "run-1", full_fetch=False, cursor_before=None)
    for name, value in figures.items():
        setattr(result, name, value)
    return result


@pytest.mark.parametrize(
    ("count", "expected"), [(0, "0 calls"), (1, "1 call"), (2, "2 calls"), (1234, "1,234 calls")]
)
def test_plural(count: int, expected: str) -> None:
    assert plural(count, "call") == expected


@pytest.mark.parametrize(
    ("wait", "duration", "expected"),
    [(0.0, 10.0, False), (5.0, 10.0, False), (5.1, 10.0, True), (0.0, 0.0, False)],
)
def test_mostly_waited_means_more_than_half_the_time(
    wait: float, duration: float, expected: bool
) -> None:
    result = _result("a", "hris.Employee", rate_limit_wait_s=wait, duration_s=duration)
    assert waited_mostly_on_limiter(result) is expected


def test_summary_counts_accounts_models_records_calls_and_failures() -> None:
    results = [
        _result("a1", "hris.Employee", records_received=1000, api_calls=10, duration_s=2),
        _result("a2", "hris.Employee", records_received=1, api_calls=1, duration_s=1),
    ]
    pairs = [("a1", "hris.Employee"), ("a2", "hris.Employee"), ("a2", "hris.Company")]
    figures = tally(pairs, results, failed=1)
    assert summary_line(figures, 3.04, "cli-x") == (
        "2 accounts, 2 models (3 syncs): 1,001 records, 11 calls, 1 failed in 3.0s (run cli-x)"
    )
    assert rate_limit_warning(figures, 100) is None


def test_one_of_everything_is_singular() -> None:
    figures = tally([("a", "hris.Employee")], [_result("a", "hris.Employee", api_calls=1)], 0)
    assert summary_line(figures, 0.5, "r").startswith(
        "1 account, 1 model (1 sync): 0 records, 1 call"
    )


def test_syncs_that_mostly_waited_name_the_setting_to_raise() -> None:
    waited = _result("a", "hris.Employee", rate_limit_wait_s=50.0, duration_s=60.0)
    figures = tally([("a", "hris.Employee")], [waited], 0)
    assert rate_limit_warning(figures, 100) == (
        "1 of 1 sync mostly waited on the rate limiter (50s in all): the rate "
        "limit is 100 calls/min per linked account (Merge's Launch plan allows 100, Professional "
        "400, Enterprise 600); if your plan allows more, raise MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE"
    )
    assert limiter_warning(waited) is not None
    assert "83% of its 60s" in str(limiter_warning(waited))
    assert limiter_warning(_result("a", "hris.Employee", duration_s=60.0)) is None

"""What the account-health checks say, from grouped problem rows: pure, table-driven."""

from datetime import UTC, datetime

import pytest

from merge_pipeline.planning.account_checks import (
    Severity,
    quarantine_finding,
    relink_finding,
    stale_finding,
    sync_status_finding,
    sync_status_problem,
)


@pytest.mark.parametrize(
    ("status", "last_result", "problem"),
    [
        ("DONE", "DONE", None),
        ("SYNCING", "DONE", None),
        ("FAILED", "FAILED", "FAILED"),
        ("DISABLED", None, "DISABLED"),
        ("PAUSED", "DONE", "PAUSED"),
        ("PARTIALLY_SYNCED", "PARTIALLY_SYNCED", "PARTIALLY_SYNCED"),
        ("SYNCING", "FAILED", "FAILED"),  # a new sync started: the last one still failed
        (None, "PARTIALLY_SYNCED", "PARTIALLY_SYNCED"),
        ("DONE", "FAILED", None),  # the current state is Merge's latest word
    ],
)
def test_sync_status_problem(
    status: str | None, last_result: str | None, problem: str | None
) -> None:
    assert sync_status_problem(status, last_result) == problem


@pytest.mark.parametrize(
    ("rows", "passed", "severity"),
    [
        ([], True, Severity.WARN),
        ([("a", "DONE", "DONE")], True, Severity.WARN),
        ([("a", "PAUSED", None), ("b", "PARTIALLY_SYNCED", None)], False, Severity.WARN),
        ([("a", "PAUSED", None), ("b", "FAILED", "FAILED")], False, Severity.ERROR),
        ([("a", "DISABLED", None)], False, Severity.ERROR),
    ],
)
def test_sync_status_severity(
    rows: list[tuple[str, str | None, str | None]], passed: bool, severity: Severity
) -> None:
    finding = sync_status_finding(rows)
    assert (finding.passed, finding.severity) == (passed, severity)


def test_sync_status_names_each_account_and_counts_each_problem() -> None:
    finding = sync_status_finding(
        [("a", "FAILED", "FAILED"), ("b", "FAILED", None), ("c", "DISABLED", None)]
    )
    assert finding.accounts == {"a": "FAILED", "b": "FAILED", "c": "DISABLED"}
    assert "1 account(s) DISABLED" in finding.summary and "2 account(s) FAILED" in finding.summary


def test_relink_names_the_issue_and_the_exact_command() -> None:
    finding = relink_finding([("acct-1", "Invalid login credentials"), ("acct-2", None)])
    assert (finding.passed, finding.severity) == (False, Severity.ERROR)
    assert finding.accounts == {
        "acct-1": "Invalid login credentials; run `merge-pipeline accounts relink acct-1`",
        "acct-2": "credentials need relinking; run `merge-pipeline accounts relink acct-2`",
    }


def test_no_account_to_relink_passes() -> None:
    assert relink_finding([]).passed


def test_stale_lists_when_each_account_last_synced() -> None:
    finding = stale_finding([("a", datetime(2026, 12, 1, 3, tzinfo=UTC)), ("b", None)], 36)
    assert (finding.passed, finding.severity) == (False, Severity.WARN)
    assert finding.accounts == {
        "a": "last successful sync 2026-12-01T03:00:00+00:00",
        "b": "never synced successfully",
    }
    assert "within 36 h" in finding.summary


def test_quarantine_counts_pending_records() -> None:
    finding = quarantine_finding([("a", 3), ("b", 1), ("c", 0)])
    assert (finding.passed, finding.accounts) == (
        False,
        {"a": "3 record(s) pending", "b": "1 record(s) pending"},
    )
    assert finding.summary.startswith("4 record(s) of 2 account(s)")
    assert quarantine_finding([]).passed

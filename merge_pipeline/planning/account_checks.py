"""What each account-health asset check says, from rows already grouped by SQL (pure).

Each function takes the problem rows of one asset (one Common Model, every account) and returns
a :class:`Finding`: passed or not, how severe, one line saying what is wrong and what to do, and
the accounts concerned with what concerns each.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARN = "warn"


#: Merge's sync statuses (CONTRACT §4) that a check reports, and how loudly
SYNC_STATUS_SEVERITY = {
    "FAILED": Severity.ERROR,
    "DISABLED": Severity.ERROR,
    "PARTIALLY_SYNCED": Severity.WARN,
    "PAUSED": Severity.WARN,
}
_SYNC_STATUS_ADVICE = {
    "FAILED": "Merge's last sync failed; see the account's Issues in Merge's dashboard",
    "DISABLED": "the model is turned off in the Common Model scopes; enable it in Merge",
    "PARTIALLY_SYNCED": "some fields or models failed in Merge's last sync",
    "PAUSED": "Merge paused syncing (no request or webhook, or only failed syncs, for 2 weeks)",
}
RELINK_COMMAND = "merge-pipeline accounts relink {account}"


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's result for one asset: ``accounts`` maps each account to its problem."""

    passed: bool
    severity: Severity
    summary: str
    accounts: dict[str, str]


def sync_status_problem(status: str | None, last_sync_result: str | None) -> str | None:
    """The sync problem Merge reports for a model of an account, or ``None``.

    ``status`` is the current state; while Merge is SYNCING again (or says nothing), the last
    finished sync's result still stands.
    """
    if status in SYNC_STATUS_SEVERITY:
        return status
    if status in (None, "SYNCING") and last_sync_result in SYNC_STATUS_SEVERITY:
        return last_sync_result
    return None


def sync_status_finding(rows: Iterable[tuple[str, str | None, str | None]]) -> Finding:
    """Rows (account, status, last_sync_result): ERROR on FAILED/DISABLED, WARN otherwise."""
    problems = {
        account: problem
        for account, status, result in rows
        if (problem := sync_status_problem(status, result)) is not None
    }
    if not problems:
        return Finding(
            True,
            Severity.WARN,
            "Merge reports no failed, disabled, partial or paused sync of this model",
            {},
        )
    severity = (
        Severity.ERROR
        if any(SYNC_STATUS_SEVERITY[p] is Severity.ERROR for p in problems.values())
        else Severity.WARN
    )
    counts = _count(problems.values())
    summary = "; ".join(
        f"{n} account(s) {status}: {_SYNC_STATUS_ADVICE[status]}" for status, n in counts
    )
    return Finding(False, severity, summary, problems)


def relink_finding(rows: Iterable[tuple[str, str | None]]) -> Finding:
    """Rows (account, open issue text): every account Merge says needs relinking is an ERROR."""
    accounts = {
        account: f"{text or 'credentials need relinking'}; "
        f"run `{RELINK_COMMAND.format(account=account)}`"
        for account, text in rows
    }
    if not accounts:
        return Finding(True, Severity.ERROR, "no account of this category needs relinking", {})
    return Finding(
        False,
        Severity.ERROR,
        f"{len(accounts)} account(s) need relinking and get no syncs (their data stays readable): "
        "run `merge-pipeline accounts relink ACCOUNT_ID` (or launch the relink_account job) and "
        "send the end user the link it prints",
        accounts,
    )


def stale_finding(rows: Iterable[tuple[str, datetime | None]], window_hours: float) -> Finding:
    """Rows (account, last successful sync or None): WARN when an account's model is stale."""
    accounts = {
        account: f"last successful sync {last.isoformat(timespec='seconds')}"
        if last is not None
        else "never synced successfully"
        for account, last in rows
    }
    if not accounts:
        return Finding(True, Severity.WARN, f"every account synced within {window_hours:g} h", {})
    return Finding(
        False,
        Severity.WARN,
        f"{len(accounts)} account(s) have no successful sync of this model within "
        f"{window_hours:g} h: see the account's failed runs, or run "
        "`merge-pipeline sync --account ACCOUNT_ID`",
        accounts,
    )


def quarantine_finding(rows: Iterable[tuple[str, int]]) -> Finding:
    """Rows (account, pending quarantined records): WARN while any record waits."""
    pending = {account: count for account, count in rows if count > 0}
    if not pending:
        return Finding(True, Severity.WARN, "no record of this model waits in quarantine", {})
    accounts = {account: f"{count} record(s) pending" for account, count in pending.items()}
    return Finding(
        False,
        Severity.WARN,
        f"{sum(pending.values())} record(s) of {len(accounts)} account(s) could not be mirrored "
        "and wait in merge_pipeline.quarantined_records (see reason); the next sync retries them",
        accounts,
    )


def _count(values: Iterable[str]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return sorted(counts.items(), key=lambda item: (SYNC_STATUS_SEVERITY[item[0]], item[0]))

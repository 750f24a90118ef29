"""Merge's own sync schedule (``merge_sandbox.schedule``), driven tick by tick without a server."""

from collections.abc import Callable

import pytest

from merge_sandbox.accounts import LinkedAccount
from merge_sandbox.config import SandboxConfig
from merge_sandbox.schedule import SyncSchedule, first_due, tick
from merge_sandbox.state import LinkRequest, Sandbox
from merge_sandbox.sync import complete_link, mark_relink_needed, set_model_status, set_paused

EVERY = 60.0
DURATION = 5.0
SEED = 37


def _sandbox() -> tuple[Sandbox, LinkedAccount, SyncSchedule]:
    sandbox = Sandbox(config=SandboxConfig(seed=SEED))
    sandbox.populate(1, 300, ["hris"])
    account = next(iter(sandbox.accounts.values()))
    return sandbox, account, SyncSchedule(every_seconds=EVERY, duration_seconds=DURATION)


def _changed_records(account: LinkedAccount) -> int:
    return sum(len(table.overlay) for table in account.tables.values())


def _statuses(account: LinkedAccount) -> set[str]:
    return {row.current_status for row in account.sync.values()}


def test_a_due_account_syncs_changes_records_and_fires_the_synced_webhooks() -> None:
    sandbox, account, schedule = _sandbox()
    assert tick(sandbox, schedule, 0.0) == []  # first seen: due later in the interval
    assert tick(sandbox, schedule, EVERY) == [(account.id, "started")]
    assert _statuses(account) == {"SYNCING"}
    assert tick(sandbox, schedule, EVERY + DURATION / 2) == []  # still running
    assert tick(sandbox, schedule, EVERY + DURATION) == [(account.id, "DONE")]
    assert _statuses(account) == {"DONE"} and _changed_records(account) > 0
    events = [e["event"] for e in sandbox.webhooks.events]
    assert "LinkedAccount.synced" in events and "Employee.synced" in events
    assert tick(sandbox, schedule, EVERY + DURATION + 1) == []  # next one an interval later
    assert tick(sandbox, schedule, 2 * EVERY) == [(account.id, "started")]


def _failing(sandbox: Sandbox, account: LinkedAccount, schedule: SyncSchedule) -> None:
    schedule.set_result(account.id, "FAILED")


def _disabled_model(sandbox: Sandbox, account: LinkedAccount, schedule: SyncSchedule) -> None:
    set_model_status(sandbox, account, "hris.TimeOff", "DISABLED")


def _paused(sandbox: Sandbox, account: LinkedAccount, schedule: SyncSchedule) -> None:
    set_paused(account, True)


def _relink_needed(sandbox: Sandbox, account: LinkedAccount, schedule: SyncSchedule) -> None:
    mark_relink_needed(sandbox, account)


@pytest.mark.parametrize(
    ("setup", "after_start", "after_finish", "results", "changes"),
    [
        (_failing, {"SYNCING"}, {"FAILED"}, {"FAILED"}, False),
        (_disabled_model, {"SYNCING", "DISABLED"}, {"DONE", "DISABLED"}, {"DONE"}, True),
        (_paused, {"PAUSED"}, {"PAUSED"}, {"DONE"}, False),
        (_relink_needed, {"DONE"}, {"DONE"}, {"DONE"}, False),
    ],
    ids=["failing", "disabled-model", "paused", "relink-needed"],
)
def test_what_a_scheduled_sync_does_to_a_special_account(
    setup: Callable[[Sandbox, LinkedAccount, SyncSchedule], None],
    after_start: set[str],
    after_finish: set[str],
    results: set[str],
    changes: bool,
) -> None:
    sandbox, account, schedule = _sandbox()
    setup(sandbox, account, schedule)
    tick(sandbox, schedule, 0.0)
    tick(sandbox, schedule, EVERY)
    assert _statuses(account) == after_start
    tick(sandbox, schedule, EVERY + DURATION)
    assert _statuses(account) == after_finish
    assert {row.last_sync_result for row in account.sync.values()} == results
    assert (_changed_records(account) > 0) is changes


def test_a_relinked_account_syncs_again_at_the_next_tick() -> None:
    sandbox, account, schedule = _sandbox()
    mark_relink_needed(sandbox, account)
    tick(sandbox, schedule, 0.0)
    assert tick(sandbox, schedule, 3 * EVERY) == []  # overdue, but needs relinking
    link = LinkRequest(
        "token", "hris", account.end_user_origin_id, "Org", "it@example.com", None, account.id
    )
    sandbox.new_link_token(link)
    complete_link(sandbox, link, records=0)
    assert tick(sandbox, schedule, 3 * EVERY + 1) == [(account.id, "started")]


def test_unpausing_lifts_the_pause_but_not_a_disabled_model() -> None:
    sandbox, account, _ = _sandbox()
    set_model_status(sandbox, account, "hris.TimeOff", "DISABLED")
    set_paused(account, True)
    assert account.status == "IDLE" and _statuses(account) == {"PAUSED", "DISABLED"}
    set_paused(account, False)
    assert account.status == "COMPLETE" and _statuses(account) == {"DONE", "DISABLED"}


def test_switched_off_the_schedule_finishes_running_syncs_and_starts_none() -> None:
    sandbox, account, schedule = _sandbox()
    tick(sandbox, schedule, 0.0)
    tick(sandbox, schedule, EVERY)
    schedule.update({"every_seconds": 0})
    assert tick(sandbox, schedule, EVERY + DURATION) == [(account.id, "DONE")]
    assert tick(sandbox, schedule, 10 * EVERY) == []


@pytest.mark.parametrize("account_id", ["a", "b", "c", "00000000-0000-0000-0000-000000000000"])
def test_accounts_first_sync_falls_within_the_first_interval(account_id: str) -> None:
    due = first_due(account_id, 100.0, EVERY)
    assert 100.0 < due <= 100.0 + EVERY and due == first_due(account_id, 100.0, EVERY)


def test_an_unknown_scheduled_result_is_refused() -> None:
    with pytest.raises(ValueError, match="result must be one of DONE, PARTIALLY_SYNCED, FAILED"):
        SyncSchedule().set_result("a", "SYNCING")

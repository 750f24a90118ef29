"""Every loop that depends on what Merge says is bounded, and so is the wait for a pair's lock.

A ``next`` cursor that leads back to a page already read (A -> B -> A, of any length) was
followed for ever, holding the pair's lock and spending the account's rate limit.
"""

import pytest
import sqlalchemy as sa

from merge_pipeline.merge.errors import MergeResponseError
from merge_pipeline.warehouse.cursors import read_cursor
from merge_pipeline.warehouse.locks import SyncLockTimeout, sync_lock
from merge_pipeline.warehouse.pipeline_tables import sync_runs
from merge_pipeline_tests.integration.sync.conftest import Harness, ScriptedHarness

EMPLOYEE = "hris.Employee"
EMPLOYEES = "/hris/v1/employees"


def _employee(record_id: str) -> dict[str, object]:
    return {"id": record_id, "modified_at": "2026-01-01T00:00:00Z", "remote_was_deleted": False}


@pytest.mark.timeout(60)
def test_a_cursor_cycle_longer_than_one_page_is_refused_without_moving_the_cursor(
    scripted: ScriptedHarness,
) -> None:
    scripted.merge.page(EMPLOYEES, [_employee("e1")], "A")
    scripted.merge.page(EMPLOYEES, [_employee("e2")], "B", cursor="A")
    scripted.merge.page(EMPLOYEES, [_employee("e3")], "C", cursor="B")
    scripted.merge.page(EMPLOYEES, [_employee("e4")], "A", cursor="C")  # C -> A: a cycle of 3
    account = scripted.new_account()
    with pytest.raises(MergeResponseError, match="cycle"):
        scripted.sync(account, EMPLOYEE)
    with scripted.engine.connect() as connection:
        cursor = read_cursor(connection, account, EMPLOYEE)
        error = connection.execute(
            sa.select(sync_runs.c.error).where(sync_runs.c.linked_account_id == account)
        ).scalar_one()
    assert (cursor, "cycle" in error) == (None, True)
    assert len(scripted.merge.requests) == 4 * 3  # each of three passes reads four pages


def test_a_cycle_that_happens_once_is_read_through_and_the_mirror_is_right(
    harness: Harness,
) -> None:
    # the sandbox's cycle is one of its ascending cursors: a session serving newest first
    # (adversity ``list_order``) would never show it
    harness.admin.set_adversity(next_cycles=True, list_order="ascending")
    account = harness.account(records=600)
    result = harness.sync(account, EMPLOYEE, page_size=10)
    harness.assert_mirror_matches(account.id, EMPLOYEE)
    assert result.cursor_cycles == 1


def test_a_sync_waits_for_a_held_lock_only_so_long_then_says_why(
    harness: Harness,
) -> None:
    account = harness.account(records=50)
    with (
        harness.engine.connect() as holder,
        sync_lock(holder, account.id, EMPLOYEE),
        pytest.raises(SyncLockTimeout) as raised,
    ):
        harness.sync(account, EMPLOYEE, lock_timeout_s=0.3)
    assert str(raised.value).startswith(f"another sync of {EMPLOYEE} for linked account")


def test_the_lock_is_free_again_after_a_timed_out_wait(harness: Harness) -> None:
    account = harness.account(records=50)
    with (
        harness.engine.connect() as holder,
        sync_lock(holder, account.id, EMPLOYEE),
        pytest.raises(SyncLockTimeout),
    ):
        harness.sync(account, EMPLOYEE, lock_timeout_s=0.3)
    assert harness.sync(account, EMPLOYEE, lock_timeout_s=0.3).records_received > 0

"""Deletions and absences under Merge's worst plausible behaviour, over HTTP into PostgreSQL.

``remote_was_deleted`` only ever says what Merge said; ``_absent_since`` is our observation
that a complete (and confirmed) listing left a row out. Each test starts from the kind sandbox
(whatever the session's switches), switches on the behaviour it is about, and ends with the
oracle: the mirror equals Merge's ground truth.
"""

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from merge_pipeline.catalog import load_catalog
from merge_pipeline.merge.page import Page
from merge_pipeline.sync.result import SyncResult
from merge_pipeline.warehouse.mirror_tables import mirror_tables
from merge_pipeline_tests.integration.sync.conftest import Harness
from merge_pipeline_tests.oracle import MirrorMismatch
from merge_sandbox.admin import AccountInfo

EMPLOYEE = "hris.Employee"
PAYMENT_TERM = "accounting.PaymentTerm"  # full refresh: no modified_after, no remote_was_deleted
EVERY_SYNC = timedelta(0)

#: CONTRACT §3: the nine Common Models without remote_was_deleted, with the parent to sync first
#: for the nested ones
UNFLAGGED = {
    "crm.EngagementType": None,
    "crm.CustomObjectClass": None,
    "crm.CustomObject": "crm.CustomObjectClass",
    "crm.AssociationType": "crm.CustomObjectClass",
    "accounting.AccountingPeriod": None,
    "accounting.PaymentMethod": None,
    "accounting.PaymentTerm": None,
    "accounting.Project": None,
    "ticketing.Viewer": "ticketing.Collection",
}


@pytest.fixture(autouse=True)
def kind_sandbox(harness: Harness) -> None:
    """Each scenario names its own adversity (the admin fixture restores the session's)."""
    harness.admin.reset_adversity()


def _live_ids(harness: Harness, account: AccountInfo, model_id: str, count: int) -> list[str]:
    ids = [r["id"] for r in harness.admin.records(account.id, model_id).live()[:count]]
    assert len(ids) == count, f"the account needs {count} live {model_id} records"
    return ids


def _absent(harness: Harness, account: AccountInfo, model_id: str) -> set[str]:
    table = mirror_tables()[model_id]
    with harness.engine.connect() as connection:
        return set(
            connection.execute(
                sa.select(table.c.id).where(
                    table.c.linked_account_id == account.id, table.c._absent_since.is_not(None)
                )
            ).scalars()
        )


def test_catalog_knows_exactly_which_models_lack_remote_was_deleted() -> None:
    unflagged = {m.model_id for m in load_catalog() if not m.flags_deletions}
    assert unflagged == set(UNFLAGGED)


@pytest.mark.parametrize("model_id", sorted(UNFLAGGED))
def test_deletion_in_a_model_without_remote_was_deleted_reaches_the_mirror(
    harness: Harness, model_id: str
) -> None:
    category = model_id.partition(".")[0]
    account = harness.account(category, records=4000)
    parent = UNFLAGGED[model_id]
    if parent:
        harness.sync(account, parent)
    harness.sync(account, model_id)
    harness.admin.set_adversity(unflagged_deletes=True)
    removed = _live_ids(harness, account, model_id, 1)
    harness.admin.delete_records(account.id, model_id, removed)
    result = harness.sync(account, model_id, deletion_sweep=EVERY_SYNC)
    harness.assert_mirror_matches(account.id, model_id)
    assert result.records_marked_absent == 1


def test_short_listing_never_marks_live_rows_absent(harness: Harness) -> None:
    account = harness.account("accounting", records=3000)
    harness.admin.set_adversity(short_listings=True)
    for _ in range(3):  # the second listing of each scope ends early
        harness.sync(account, PAYMENT_TERM)
        harness.assert_mirror_matches(account.id, PAYMENT_TERM)


def test_row_marked_absent_comes_back_when_listed_again(harness: Harness) -> None:
    account = harness.account("accounting", records=3000)
    harness.sync(account, PAYMENT_TERM)
    [back] = _live_ids(harness, account, PAYMENT_TERM, 1)
    table = mirror_tables()[PAYMENT_TERM]
    with harness.engine.begin() as connection:  # as an earlier, wrong listing would have left it
        connection.execute(
            sa.update(table)
            .where(table.c.linked_account_id == account.id, table.c.id == back)
            .values(_absent_since=sa.func.now())
        )
    result = harness.sync(account, PAYMENT_TERM)
    harness.assert_mirror_matches(account.id, PAYMENT_TERM)
    assert result.records_returned == 1


def test_listing_that_omits_most_rows_marks_none_and_says_so(harness: Harness) -> None:
    account = harness.account("accounting", records=20_000)
    harness.sync(account, PAYMENT_TERM)
    live = harness.admin.records(account.id, PAYMENT_TERM).live()
    assert len(live) >= 20, "the guard needs a table of at least 20 rows"
    harness.admin.set_adversity(unflagged_deletes=True)
    harness.admin.delete_records(account.id, PAYMENT_TERM, [r["id"] for r in live[:-2]])
    result = harness.sync(account, PAYMENT_TERM)
    assert (result.absence_refused, _absent(harness, account, PAYMENT_TERM)) == (
        len(live) - 2,
        set(),
    )


def test_deleted_count_is_transitions_not_flags_received_again(harness: Harness) -> None:
    account = harness.account(records=300)
    harness.sync(account, EMPLOYEE)
    harness.admin.advance_clock(120)
    harness.admin.delete_records(account.id, EMPLOYEE, _live_ids(harness, account, EMPLOYEE, 5))
    first = harness.sync(account, EMPLOYEE)
    again = harness.sync(account, EMPLOYEE)  # within the overlap: the 5 are received again
    assert (first.records_deleted, again.records_deleted) == (5, 0)


def test_deletion_without_modified_at_bump_is_found_by_the_sweep(harness: Harness) -> None:
    account = harness.account(records=300)
    harness.sync(account, EMPLOYEE)
    harness.admin.set_adversity(delete_without_bump=True)
    harness.admin.advance_clock(120)
    harness.admin.delete_records(account.id, EMPLOYEE, _live_ids(harness, account, EMPLOYEE, 3))
    result = harness.sync(account, EMPLOYEE, deletion_sweep=EVERY_SYNC)
    harness.assert_mirror_matches(account.id, EMPLOYEE)
    assert result.records_deleted == 3


def test_hard_deleted_record_is_marked_absent_not_deleted_by_merge(harness: Harness) -> None:
    account = harness.account(records=300)
    harness.sync(account, EMPLOYEE)
    harness.admin.set_adversity(hard_deletes=True)
    gone = _live_ids(harness, account, EMPLOYEE, 2)
    harness.admin.delete_records(account.id, EMPLOYEE, gone)
    harness.sync(account, EMPLOYEE, deletion_sweep=EVERY_SYNC)
    harness.assert_mirror_matches(account.id, EMPLOYEE)
    assert _absent(harness, account, EMPLOYEE) == set(gone)


def test_incremental_model_is_swept_only_when_its_interval_has_passed(harness: Harness) -> None:
    account = harness.account(records=300)
    harness.sync(account, EMPLOYEE)
    daily = harness.sync(account, EMPLOYEE, deletion_sweep=timedelta(days=1))
    swept = harness.sync(account, EMPLOYEE, deletion_sweep=EVERY_SYNC)
    assert (daily.full_fetch, swept.full_fetch) == (False, True)


@pytest.mark.parametrize("order", ["descending", "unstable"])
def test_record_changed_while_a_full_refresh_pages_is_not_marked_absent(
    harness: Harness, order: str
) -> None:
    account = harness.account("accounting", records=3000)
    harness.sync(account, PAYMENT_TERM)
    harness.admin.set_adversity(list_order=order)
    oldest = harness.admin.records(account.id, PAYMENT_TERM).live()[0]["id"]
    changed: list[Any] = []

    def change_while_paging(result: SyncResult, page: Page) -> None:
        if not changed:  # newest first: the oldest record jumps behind the paging
            changed.append(harness.admin.update_records(account.id, PAYMENT_TERM, [oldest]))

    harness.sync(account, PAYMENT_TERM, page_size=2, progress=change_while_paging)
    assert changed, "the record should have changed during the paging"
    harness.assert_mirror_matches(account.id, PAYMENT_TERM)


@pytest.mark.parametrize("order", ["descending", "unstable"])
def test_record_changed_while_an_incremental_fetch_pages_is_caught_next_time(
    harness: Harness, order: str
) -> None:
    account = harness.account(records=400)
    harness.sync(account, EMPLOYEE)
    harness.admin.advance_clock(120)
    harness.admin.mutate(account.id, EMPLOYEE, updates=30)
    harness.admin.set_adversity(list_order=order)
    changed: list[Any] = []

    def change_while_paging(result: SyncResult, page: Page) -> None:
        if not changed:
            changed.append(harness.admin.mutate(account.id, EMPLOYEE, updates=10, deletes=2))

    harness.sync(account, EMPLOYEE, page_size=5, progress=change_while_paging)
    harness.sync(account, EMPLOYEE, page_size=5)
    assert changed, "the records should have changed during the paging"
    harness.assert_mirror_matches(account.id, EMPLOYEE)


@pytest.mark.parametrize("lag_s", [30, 110])
def test_change_visible_after_its_modified_at_is_caught_within_the_overlap(
    harness: Harness, lag_s: int
) -> None:
    """Merge's writes may become readable after the ``modified_at`` they carry; the cursor
    overlap is the bound: any lag up to it is caught by the next incremental sync."""
    account = harness.account(records=300)
    harness.sync(account, EMPLOYEE, overlap=timedelta(seconds=120))
    harness.admin.set_adversity(visibility_lag_seconds=lag_s)
    harness.admin.mutate(account.id, EMPLOYEE, creates=3, updates=5)
    harness.sync(account, EMPLOYEE, overlap=timedelta(seconds=120))
    harness.assert_mirror_matches(account.id, EMPLOYEE)


def test_change_visible_later_than_the_overlap_is_missed_so_the_bound_is_real(
    harness: Harness,
) -> None:
    """The counterpart of the test above: with a lag beyond the overlap the oracle sees the
    miss, so that test fails without the margin it claims to check."""
    account = harness.account(records=300)
    harness.sync(account, EMPLOYEE, overlap=timedelta(seconds=60))
    harness.admin.set_adversity(visibility_lag_seconds=110)
    harness.admin.mutate(account.id, EMPLOYEE, creates=3, updates=5)
    harness.sync(account, EMPLOYEE, overlap=timedelta(seconds=60), deletion_sweep=None)
    with pytest.raises(MirrorMismatch):
        harness.assert_mirror_matches(account.id, EMPLOYEE)

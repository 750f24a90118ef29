"""End-to-end syncs over real HTTP against the sandbox, into a real PostgreSQL.

Each test checks the one property that matters with the oracle: afterwards the mirror equals
Merge's data, record by record and column by column, deleted ones flagged as Merge flags them,
vanished ones marked absent, no other rows.
"""

import math
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from merge_pipeline.merge.page import Page
from merge_pipeline.sync.result import SyncResult
from merge_pipeline.warehouse.cursors import read_cursor
from merge_pipeline.warehouse.mirror_tables import mirror_tables
from merge_pipeline.warehouse.pipeline_tables import sync_runs
from merge_pipeline_tests.integration.sync.conftest import Harness, only_incremental

EMPLOYEE = "hris.Employee"
GROUP = "hris.Group"
OUTSIDE_OVERLAP_S = 120  # virtual seconds: past the 60 s cursor overlap


def test_initial_sync_mirrors_every_record(harness: Harness) -> None:
    account = harness.account(records=300)
    result = harness.sync(account, EMPLOYEE)
    count = harness.assert_mirror_matches(account.id, EMPLOYEE)
    assert result.full_fetch
    assert result.records_inserted == count > 0
    # a cursor cycle (sandbox switch next_cycles) makes the listing be read once more
    assert result.api_calls == math.ceil(count / 100) * (1 + result.cursor_cycles)


@only_incremental
def test_incremental_sync_applies_creates_updates_and_deletes(harness: Harness) -> None:
    account = harness.account(records=300)
    harness.sync(account, EMPLOYEE)
    harness.admin.advance_clock(OUTSIDE_OVERLAP_S)
    changes = harness.admin.mutate(account.id, EMPLOYEE, creates=7, updates=11, deletes=5)
    result = harness.sync(account, EMPLOYEE)
    harness.assert_mirror_matches(account.id, EMPLOYEE)
    # a record created and deleted since the last sync arrives deleted: no live row went away
    mirrored_then_deleted = set(changes["deleted"][EMPLOYEE]) - set(changes["created"][EMPLOYEE])
    assert (result.full_fetch, result.records_inserted, result.records_deleted) == (
        False,
        7,
        len(mirrored_then_deleted),
    )


@only_incremental
def test_incremental_sync_without_changes_costs_one_call(harness: Harness) -> None:
    account = harness.account(records=300)
    harness.sync(account, EMPLOYEE)
    harness.admin.advance_clock(OUTSIDE_OVERLAP_S)
    result = harness.sync(account, EMPLOYEE)
    assert result.api_calls == 1
    assert result.records_received == 0


@only_incremental
@pytest.mark.parametrize("changed", [1, 100, 250])
def test_incremental_sync_of_k_changes_costs_ceil_k_over_page_size(
    harness: Harness, changed: int
) -> None:
    account = harness.account(records=6000)
    harness.sync(account, EMPLOYEE)
    harness.admin.advance_clock(OUTSIDE_OVERLAP_S)
    ids = [r["id"] for r in harness.admin.records(account.id, EMPLOYEE).live()[:changed]]
    assert len(ids) == changed, "the account needs more employees for this test"
    harness.admin.update_records(account.id, EMPLOYEE, ids)
    result = harness.sync(account, EMPLOYEE)
    assert result.records_updated == changed
    assert result.api_calls == math.ceil(changed / 100) * (1 + result.cursor_cycles)


def test_records_modified_during_the_fetch_are_caught_by_the_next(harness: Harness) -> None:
    account = harness.account(records=400)
    changed_midway: list[Any] = []

    def change_records_while_paging(result: SyncResult, page: Page) -> None:
        if page.number in (1, 3):
            changed_midway.append(
                harness.admin.mutate(account.id, EMPLOYEE, creates=3, updates=6, deletes=2)
            )

    harness.sync(account, EMPLOYEE, page_size=20, progress=change_records_while_paging)
    assert changed_midway, "the fetch should have been interrupted by changes"
    harness.sync(account, EMPLOYEE, page_size=20)
    harness.assert_mirror_matches(account.id, EMPLOYEE)


@pytest.mark.parametrize("skew_s", [-600, 600], ids=["merge-10min-behind", "merge-10min-ahead"])
def test_clock_skew_between_us_and_merge_loses_nothing(harness: Harness, skew_s: int) -> None:
    harness.admin.skew_clock(skew_s)
    try:
        account = harness.account(records=200)
        harness.sync(account, EMPLOYEE)
        harness.admin.mutate(account.id, EMPLOYEE, creates=4, updates=9, deletes=3)
        harness.sync(account, EMPLOYEE)
        harness.admin.advance_clock(5)
        harness.admin.mutate(account.id, EMPLOYEE, updates=5)
        harness.sync(account, EMPLOYEE)
        harness.assert_mirror_matches(account.id, EMPLOYEE)
    finally:
        harness.admin.skew_clock(0)


def test_429_storm_and_5xx_burst_are_retried_to_a_correct_mirror(harness: Harness) -> None:
    account = harness.account(records=300)
    harness.admin.error_burst(6, status=429, account_id=account.id)
    harness.sync(account, EMPLOYEE, page_size=50)
    harness.admin.mutate(account.id, EMPLOYEE, updates=20, deletes=4)
    harness.admin.error_burst(4, status=503, account_id=account.id)
    harness.admin.error_burst(2, status=500, account_id=account.id)
    result = harness.sync(account, EMPLOYEE, page_size=50)
    harness.assert_mirror_matches(account.id, EMPLOYEE)
    assert result.server_errors == 6
    assert result.retries >= 6


def test_connections_dropped_mid_body_are_retried(harness: Harness) -> None:
    account = harness.account(records=300)
    harness.admin.drop_connections(3, account_id=account.id)
    result = harness.sync(account, EMPLOYEE)
    harness.assert_mirror_matches(account.id, EMPLOYEE)
    assert result.transport_errors == 3


def test_same_sync_twice_changes_nothing_the_second_time(harness: Harness) -> None:
    account = harness.account(records=200)
    harness.sync(account, EMPLOYEE)
    second = harness.sync(account, EMPLOYEE, full=True)
    assert (second.records_inserted, second.records_updated) == (0, 0)
    assert second.records_unchanged == second.records_received > 0
    harness.assert_mirror_matches(account.id, EMPLOYEE)


@only_incremental
def test_concurrent_syncs_of_one_pair_take_turns(harness: Harness) -> None:
    account = harness.account(records=400)
    harness.admin.slow_responses(0.2, count=4, account_id=account.id)
    results: list[SyncResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(harness.sync(account, EMPLOYEE))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(r.full_fetch for r in results) == [False, True]  # second saw the first's cursor
    assert max(r.lock_wait_s for r in results) > 0.1
    harness.assert_mirror_matches(account.id, EMPLOYEE)


def test_expanded_relations_land_in_their_own_tables(harness: Harness) -> None:
    account = harness.account(records=300)
    result = harness.sync(account, EMPLOYEE, expand=("company", "groups", "manager"))
    companies = harness.mirror(account.id, "hris.Company")
    employees = harness.mirror(account.id, EMPLOYEE)
    referenced = {raw["company"] for raw, _ in employees.values() if raw["company"]}
    assert referenced <= set(companies)
    assert result.related_upserted["hris.Company"] == len(companies)
    harness.assert_mirror_matches(account.id, EMPLOYEE)  # ids, not objects, in _raw


def test_nested_model_is_listed_under_every_parent(harness: Harness) -> None:
    account = harness.account("ats", records=400)
    harness.sync(account, "ats.Job")
    result = harness.sync(account, "ats.ScreeningQuestion")
    jobs = [
        job for job, (_, deleted) in harness.mirror(account.id, "ats.Job").items() if not deleted
    ]
    assert result.api_calls >= len(jobs)
    harness.assert_mirror_matches(account.id, "ats.ScreeningQuestion")


def test_model_without_modified_after_is_fully_reread_and_missing_rows_marked(
    harness: Harness,
) -> None:
    account = harness.account("accounting", records=3000)
    model_id = "accounting.PaymentTerm"
    harness.sync(account, model_id)
    harness.admin.set_adversity(unflagged_deletes=True)  # PaymentTerm has no deleted flag
    removed = [r["id"] for r in harness.admin.records(account.id, model_id).live()[:2]]
    harness.admin.delete_records(account.id, model_id, removed)
    second = harness.sync(account, model_id)
    harness.assert_mirror_matches(account.id, model_id)
    assert (second.full_fetch, second.records_inserted, second.records_marked_absent) == (
        True,
        0,
        2,
    )


def test_cursor_moves_only_with_a_completed_fetch(harness: Harness, engine: sa.Engine) -> None:
    account = harness.account(records=300)
    harness.admin.error_burst(50, status=500, account_id=account.id, path_contains="employees")
    with pytest.raises(Exception, match="500"):
        harness.sync(account, EMPLOYEE, page_size=50)
    with engine.connect() as connection:
        assert read_cursor(connection, account.id, EMPLOYEE) is None
        [status] = connection.execute(
            sa.select(sync_runs.c.status).where(sync_runs.c.linked_account_id == account.id)
        ).scalars()
    assert status == "failed"
    harness.admin.clear_faults()
    harness.sync(account, EMPLOYEE, page_size=50)
    harness.assert_mirror_matches(account.id, EMPLOYEE)


def test_rows_carry_the_run_that_wrote_them(harness: Harness, engine: sa.Engine) -> None:
    account = harness.account(records=100)
    result = harness.sync(account, EMPLOYEE)
    table = mirror_tables()[EMPLOYEE]
    with engine.connect() as connection:
        run_ids = set(
            connection.execute(
                sa.select(table.c._sync_run_id).where(table.c.linked_account_id == account.id)
            ).scalars()
        )
    assert run_ids == {result.sync_run_id}


def test_nested_objects_without_a_list_endpoint_are_stored_whole(harness: Harness) -> None:
    """``Invoice.line_items`` arrives as objects (``InvoiceLineItem`` has no list endpoint):
    its column holds them as jsonb, never a list of ids that name nothing fetchable."""
    account = harness.account("accounting", records=600)
    harness.sync(account, "accounting.Invoice", expand=("line_items", "company"))
    harness.assert_mirror_matches(account.id, "accounting.Invoice")
    table = mirror_tables()["accounting.Invoice"]
    with harness.engine.connect() as connection:
        stored = connection.execute(
            sa.select(table.c.line_items).where(table.c.linked_account_id == account.id)
        ).scalars()
        items = [item for line_items in stored for item in line_items or []]
    assert items and all(isinstance(item, dict) and "unit_price" in item for item in items)


def test_a_sync_leaves_no_staging_table_on_its_pooled_connection(
    harness: Harness, database_url: sa.URL
) -> None:
    """PostgreSQL empties every ``ON COMMIT DELETE ROWS`` table of a session at each commit:
    a pooled connection that kept the staging table of every model it had synced paid one
    truncation per table at every later page's commit (issue #14)."""
    one_connection = sa.create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        on_it = Harness(one_connection, harness.settings, harness.vault, harness.admin)
        account = harness.account(records=150)
        inserted = [on_it.sync(account, model).records_inserted for model in (EMPLOYEE, GROUP)]
        with one_connection.connect() as connection:
            staging = connection.execute(
                sa.text(
                    "SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema() "
                    "AND relname LIKE 'staging%'"
                )
            ).all()
    finally:
        one_connection.dispose()
    assert (min(inserted) > 0, staging) == (True, [])

"""A sync whose page transaction PostgreSQL aborts as a deadlock re-runs it, and the mirror
stays right (a deadlock is not "the database is unreachable")."""

import threading
import time

import sqlalchemy as sa

from merge_pipeline.sync.result import SyncResult
from merge_pipeline.warehouse.mirror_tables import mirror_tables
from merge_pipeline_tests.integration.sync.conftest import Harness

EMPLOYEE = "hris.Employee"
COMPANY = "hris.Company"


def _wait_until_another_backend_waits_for_a_lock(connection: sa.Connection) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        waiting = connection.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND pid <> pg_backend_pid() AND datname = current_database()"
            )
        ).scalar_one()
        connection.rollback()  # pg_stat_activity is a snapshot per transaction
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("the sync never waited for the lock held by the other transaction")


def test_page_aborted_by_a_deadlock_with_another_writer_is_rerun(harness: Harness) -> None:
    account = harness.account(records=300)
    harness.sync(account, COMPANY)
    first_page = harness.admin.records(account.id, EMPLOYEE).records[:100]
    companies = sorted({r["company"] for r in first_page if r.get("company")})
    assert len(companies) >= 2, "the first page must expand two companies"
    low, high = companies[0], companies[-1]
    table = mirror_tables()[COMPANY]
    results: list[SyncResult] = []
    errors: list[BaseException] = []

    def sync_expanding_companies() -> None:
        try:
            results.append(harness.sync(account, EMPLOYEE, expand=("company",)))
        except BaseException as error:
            errors.append(error)

    def touch(connection: sa.Connection, company_id: str) -> None:
        connection.execute(
            sa.update(table)
            .where(table.c.linked_account_id == account.id, table.c.id == company_id)
            .values(legal_name=table.c.legal_name)
        )

    with harness.engine.connect() as other:
        # the other writer never detects the deadlock itself: the sync's backend does
        other.execute(sa.text("SET deadlock_timeout = '30s'"))
        touch(other, high)  # holds the row the sync will lock last
        syncing = threading.Thread(target=sync_expanding_companies)
        syncing.start()
        with harness.engine.connect() as watcher:
            _wait_until_another_backend_waits_for_a_lock(watcher)
        touch(other, low)  # wants the row the sync locked first: a deadlock
        other.commit()
    syncing.join(60)
    assert not errors, errors
    assert results[0].transaction_conflicts == 1
    harness.assert_mirror_matches(account.id, EMPLOYEE)

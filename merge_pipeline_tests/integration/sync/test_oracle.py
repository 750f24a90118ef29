"""The oracle catches what a wrong mirror looks like: each test corrupts one thing after a correct
sync and expects the comparison to fail naming that record and column."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from merge_pipeline.catalog import load_catalog
from merge_pipeline.warehouse.mirror_tables import mirror_tables
from merge_pipeline_tests.integration.sync.conftest import Harness
from merge_pipeline_tests.oracle import MirrorMismatch, compare, expected_column
from merge_sandbox.admin import AccountInfo

EMPLOYEE = "hris.Employee"


@pytest.fixture
def synced(harness: Harness) -> Iterator[tuple[AccountInfo, sa.Table, str]]:
    """An account whose employees are mirrored correctly, the table, and one live record id."""
    account = harness.account(records=120)
    harness.sync(account, EMPLOYEE)
    harness.assert_mirror_matches(account.id, EMPLOYEE)
    record_id = harness.admin.records(account.id, EMPLOYEE).live()[0]["id"]
    yield account, mirror_tables()[EMPLOYEE], record_id


def _change(harness: Harness, statement: sa.Executable) -> None:
    with harness.engine.begin() as connection:
        connection.execute(statement)


def _row(table: sa.Table, account: AccountInfo, record_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(table.c.linked_account_id == account.id, table.c.id == record_id)


def test_oracle_catches_a_wrong_typed_timestamp_column(
    harness: Harness, synced: tuple[AccountInfo, sa.Table, str]
) -> None:
    account, table, record_id = synced
    _change(
        harness,
        sa.update(table)
        .where(_row(table, account, record_id))
        .values(modified_at=table.c.modified_at + timedelta(seconds=1)),
    )
    with pytest.raises(MirrorMismatch, match=rf"{record_id}\.modified_at"):
        harness.assert_mirror_matches(account.id, EMPLOYEE)


def test_oracle_catches_a_wrong_reference_column_while_raw_is_right(
    harness: Harness, synced: tuple[AccountInfo, sa.Table, str]
) -> None:
    account, table, record_id = synced
    _change(harness, sa.update(table).where(_row(table, account, record_id)).values(company="x"))
    with pytest.raises(MirrorMismatch, match=rf"{record_id}\.company"):
        harness.assert_mirror_matches(account.id, EMPLOYEE)


def test_oracle_catches_a_missing_row(
    harness: Harness, synced: tuple[AccountInfo, sa.Table, str]
) -> None:
    account, table, record_id = synced
    _change(harness, sa.delete(table).where(_row(table, account, record_id)))
    with pytest.raises(MirrorMismatch, match=rf"{record_id}: missing from the mirror"):
        harness.assert_mirror_matches(account.id, EMPLOYEE)


def test_oracle_catches_an_extra_row_that_is_not_marked_absent(
    harness: Harness, synced: tuple[AccountInfo, sa.Table, str]
) -> None:
    account, table, record_id = synced
    with harness.engine.begin() as connection:
        raw = connection.execute(
            sa.select(table.c._raw).where(_row(table, account, record_id))
        ).scalar_one()
        connection.execute(
            sa.insert(table).values(linked_account_id=account.id, id="not-in-merge", _raw=raw)
        )
    with pytest.raises(MirrorMismatch, match="not-in-merge: in the mirror but Merge no longer"):
        harness.assert_mirror_matches(account.id, EMPLOYEE)


def test_oracle_catches_a_wrong_deleted_flag(
    harness: Harness, synced: tuple[AccountInfo, sa.Table, str]
) -> None:
    account, table, record_id = synced
    _change(
        harness,
        sa.update(table).where(_row(table, account, record_id)).values(remote_was_deleted=True),
    )
    with pytest.raises(MirrorMismatch, match=rf"{record_id}\.remote_was_deleted"):
        harness.assert_mirror_matches(account.id, EMPLOYEE)


def test_oracle_catches_a_listed_row_marked_absent(
    harness: Harness, synced: tuple[AccountInfo, sa.Table, str]
) -> None:
    account, table, record_id = synced
    _change(
        harness,
        sa.update(table).where(_row(table, account, record_id)).values(_absent_since=sa.func.now()),
    )
    with pytest.raises(MirrorMismatch, match=rf"{record_id}: marked absent but Merge lists it"):
        harness.assert_mirror_matches(account.id, EMPLOYEE)


def test_timestamps_compare_as_instants_whatever_their_offset() -> None:
    field = load_catalog().model(EMPLOYEE).field("modified_at")
    assert expected_column(field, "2026-01-01T10:00:00+02:00") == expected_column(
        field, "2026-01-01T08:00:00Z"
    )


def test_failure_message_is_capped_but_counts_every_difference() -> None:
    model = load_catalog().model(EMPLOYEE)
    truth = {f"id-{n}": {"id": f"id-{n}"} for n in range(40)}
    comparison = compare(model, {}, truth)
    message = comparison.message(EMPLOYEE)
    assert (len(comparison.differences), message.count("missing from the mirror")) == (40, 12)

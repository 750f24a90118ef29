"""Upserts in PostgreSQL: newer wins, older never overwrites, re-applying is a no-op."""

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from merge_pipeline.catalog import load_catalog
from merge_pipeline.sync.records import RecordShaper
from merge_pipeline.warehouse.mirror_tables import mirror_tables
from merge_pipeline.warehouse.upsert import (
    UpsertCounts,
    mark_absent,
    remember_seen,
    start_full_fetch,
    upsert_rows,
)

TABLE = mirror_tables()["hris.Company"]


@pytest.fixture
def account() -> str:
    return f"acct-{uuid.uuid4()}"


def _upsert(engine: sa.Engine, account: str, *records: dict[str, Any]) -> UpsertCounts:
    model = load_catalog().model("hris.Company")
    rows = RecordShaper(load_catalog(), model, account).shape_page(records).rows
    with engine.begin() as connection:
        return upsert_rows(connection, TABLE, rows, "run-1")


def _stored(engine: sa.Engine, account: str) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(TABLE.c.id, TABLE.c.legal_name, TABLE.c.remote_was_deleted).where(
                TABLE.c.linked_account_id == account
            )
        )
        return {row.id: (row.legal_name, row.remote_was_deleted) for row in rows}


def _company(name: str, modified_at: str, **extra: Any) -> dict[str, Any]:
    return {"id": "c1", "legal_name": name, "modified_at": modified_at, **extra}


def test_new_records_are_inserted(engine: sa.Engine, account: str) -> None:
    assert _upsert(engine, account, _company("v1", "2026-01-01T00:00:00Z")) == UpsertCounts(1, 0, 0)
    assert _stored(engine, account) == {"c1": ("v1", False)}


def test_newer_version_replaces_older(engine: sa.Engine, account: str) -> None:
    _upsert(engine, account, _company("v1", "2026-01-01T00:00:00Z"))
    assert _upsert(engine, account, _company("v2", "2026-01-02T00:00:00Z")) == UpsertCounts(0, 1, 0)
    assert _stored(engine, account) == {"c1": ("v2", False)}


def test_older_version_never_overwrites_newer(engine: sa.Engine, account: str) -> None:
    _upsert(engine, account, _company("v2", "2026-01-02T00:00:00Z"))
    assert _upsert(engine, account, _company("v1", "2026-01-01T00:00:00Z")) == UpsertCounts(0, 0, 1)
    assert _stored(engine, account) == {"c1": ("v2", False)}


def test_reapplying_the_same_page_is_a_no_op(engine: sa.Engine, account: str) -> None:
    _upsert(engine, account, _company("v1", "2026-01-01T00:00:00Z"))
    assert _upsert(engine, account, _company("v1", "2026-01-01T00:00:00Z")) == UpsertCounts(0, 0, 1)


def test_deletion_is_a_flag_not_a_drop(engine: sa.Engine, account: str) -> None:
    _upsert(engine, account, _company("v1", "2026-01-01T00:00:00Z"))
    _upsert(engine, account, _company("v1", "2026-01-03T00:00:00Z", remote_was_deleted=True))
    assert _stored(engine, account) == {"c1": ("v1", True)}


def test_same_id_in_two_accounts_are_two_rows(engine: sa.Engine, account: str) -> None:
    other = f"{account}-other"
    _upsert(engine, account, _company("mine", "2026-01-01T00:00:00Z"))
    _upsert(engine, other, _company("theirs", "2026-01-01T00:00:00Z"))
    assert _stored(engine, account) == {"c1": ("mine", False)}
    assert _stored(engine, other) == {"c1": ("theirs", False)}


def _absent(engine: sa.Engine, account: str) -> set[str]:
    with engine.connect() as connection:
        return set(
            connection.execute(
                sa.select(TABLE.c.id).where(
                    TABLE.c.linked_account_id == account, TABLE.c._absent_since.is_not(None)
                )
            ).scalars()
        )


def test_rows_missing_from_a_full_fetch_are_marked_absent_not_deleted(
    engine: sa.Engine, account: str
) -> None:
    _upsert(engine, account, _company("keep", "2026-01-01T00:00:00Z"))
    _upsert(engine, account, {**_company("gone", "2026-01-01T00:00:00Z"), "id": "c2"})
    with engine.begin() as connection:
        started = start_full_fetch(connection)
        remember_seen(connection, ["c1"])
        assert mark_absent(connection, TABLE, account, started) == 1
    assert (_stored(engine, account), _absent(engine, account)) == (
        {"c1": ("keep", False), "c2": ("gone", False)},
        {"c2"},
    )


def test_row_written_after_a_full_listing_began_is_never_marked_absent_by_it(
    engine: sa.Engine, account: str
) -> None:
    """An expanded copy another sync writes while this model's full listing runs is newer
    than anything the listing could see, so the listing cannot judge it."""
    with engine.connect() as listing:
        started = start_full_fetch(listing)
        listing.commit()
        _upsert(engine, account, _company("expanded copy", "2026-01-01T00:00:00Z"))
        assert mark_absent(listing, TABLE, account, started) == 0


def test_absent_row_listed_again_comes_back_even_unchanged(engine: sa.Engine, account: str) -> None:
    _upsert(engine, account, _company("v1", "2026-01-01T00:00:00Z"))
    with engine.begin() as listing:
        mark_absent(listing, TABLE, account, start_full_fetch(listing))
    counts = _upsert(engine, account, _company("v1", "2026-01-01T00:00:00Z"))
    assert (counts.returned, _absent(engine, account)) == (1, set())


def test_deletions_are_counted_as_transitions(engine: sa.Engine, account: str) -> None:
    _upsert(engine, account, _company("v1", "2026-01-01T00:00:00Z"))
    deleted = _company("v1", "2026-01-02T00:00:00Z", remote_was_deleted=True)
    first = _upsert(engine, account, deleted)
    again = _upsert(engine, account, {**deleted, "modified_at": "2026-01-03T00:00:00Z"})
    assert (first.deleted, again.deleted) == (1, 0)


def test_awkward_values_survive_the_copy_exactly(engine: sa.Engine, account: str) -> None:
    awkward = 'quote " comma , newline \n tab \t backslash \\ unicode é ☃'
    record = {
        "id": "e1",
        "first_name": awkward,
        "last_name": "",
        "preferred_name": None,
        "groups": ['g"1', "g\\2", "g,3"],
        "custom_fields": {"k": awkward, "n": [1, None, True]},
        "modified_at": "2026-01-01T00:00:00.123456Z",
    }
    model = load_catalog().model("hris.Employee")
    table = mirror_tables()[model]
    rows = RecordShaper(load_catalog(), model, account).shape_page([record]).rows
    with engine.begin() as connection:
        upsert_rows(connection, table, rows, "run-1")
        stored = connection.execute(
            sa.select(table).where(table.c.linked_account_id == account)
        ).one()
    assert stored.first_name == awkward
    assert stored.last_name == ""
    assert stored.preferred_name is None
    assert stored.groups == ['g"1', "g\\2", "g,3"]
    assert stored.custom_fields == {"k": awkward, "n": [1, None, True]}
    assert stored.modified_at.microsecond == 123456
    assert stored._raw["first_name"] == awkward


def test_duplicate_ids_in_one_page_keep_the_newest(engine: sa.Engine, account: str) -> None:
    counts = _upsert(
        engine,
        account,
        _company("new", "2026-01-02T00:00:00Z"),
        _company("old", "2026-01-01T00:00:00Z"),
    )
    assert counts.inserted == 1
    assert _stored(engine, account) == {"c1": ("new", False)}

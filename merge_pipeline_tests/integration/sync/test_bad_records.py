"""Records a mirror cannot take as they are: quarantined or made storable, never blocking a model.

Merge (a stand-in answering over real sockets, with bodies written by hand) sends a page mixing
good records with a wrongly typed value, a record without an id, a non-object and NULs; the
rest of the page is stored, bad records wait in ``merge_pipeline.quarantined_records`` with the
reason and the record exactly as sent, and each is retried on later syncs.
"""

import secrets
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from merge_pipeline.catalog import load_catalog
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.sync.engine import SyncOptions
from merge_pipeline.sync.runner import sync_accounts
from merge_pipeline.warehouse.cursors import read_cursor
from merge_pipeline.warehouse.locks import sync_lock
from merge_pipeline.warehouse.mirror_tables import mirror_tables
from merge_pipeline.warehouse.pipeline_tables import quarantined_records, sync_cursors, sync_runs
from merge_pipeline_tests.integration.sync.conftest import FAST_RETRIES, ScriptedHarness

EMPLOYEE, COMPANY, GROUP, TAG = "hris.Employee", "hris.Company", "hris.Group", "ats.Tag"
EMPLOYEES, COMPANIES, GROUPS, TAGS = (
    "/hris/v1/employees",
    "/hris/v1/companies",
    "/hris/v1/groups",
    "/ats/v1/tags",
)
T0 = "2026-01-01T00:00:00.000000Z"


def _record(record_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": record_id,
        "remote_id": f"r-{record_id}",
        "modified_at": T0,
        "remote_was_deleted": False,
        **fields,
    }


def _mirror(scripted: ScriptedHarness, account: str, model_id: str) -> dict[str, Any]:
    table = mirror_tables()[model_id]
    with scripted.engine.connect() as connection:
        rows = connection.execute(sa.select(table).where(table.c.linked_account_id == account))
        return {row.id: row for row in rows}


def _quarantine(scripted: ScriptedHarness, account: str) -> list[Any]:
    q = quarantined_records.c
    with scripted.engine.connect() as connection:
        return list(
            connection.execute(
                sa.select(quarantined_records).where(q.linked_account_id == account).order_by(q.id)
            )
        )


MIXED_PAGE = [
    _record("e1", first_name="Grace"),
    _record("e2", start_date="the first of never"),
    "not a record",
    {"remote_id": "r-no-id", "modified_at": T0},
    _record("e3", first_name="Ada\x00Lovelace"),
]


def test_bad_records_are_quarantined_and_the_rest_of_the_page_is_stored(
    scripted: ScriptedHarness,
) -> None:
    scripted.merge.page(EMPLOYEES, MIXED_PAGE)
    account = scripted.new_account()
    result = scripted.sync(account, EMPLOYEE)
    kept = _quarantine(scripted, account)
    assert (sorted(_mirror(scripted, account, EMPLOYEE)), [q.record_id for q in kept]) == (
        ["e1", "e3"],
        ["e2", None, None],
    )
    assert result.records_quarantined == result.quarantine_pending == 3


def test_quarantine_keeps_the_record_exactly_and_the_reason_names_only_the_field(
    scripted: ScriptedHarness,
) -> None:
    scripted.merge.page(EMPLOYEES, MIXED_PAGE)
    account = scripted.new_account()
    scripted.sync(account, EMPLOYEE)
    entry = _quarantine(scripted, account)[0]
    assert entry.raw == MIXED_PAGE[1]
    assert "start_date" in entry.reason
    assert "never" not in entry.reason


def test_nul_characters_are_stored_replaced_and_the_record_kept_exactly(
    scripted: ScriptedHarness,
) -> None:
    scripted.merge.page(EMPLOYEES, MIXED_PAGE)
    account = scripted.new_account()
    scripted.sync(account, EMPLOYEE)
    row = _mirror(scripted, account, EMPLOYEE)["e3"]
    assert (row.first_name, row._raw["first_name"]) == ("Ada\ufffdLovelace",) * 2
    assert row._raw_exact == MIXED_PAGE[4]


def test_a_sync_with_quarantined_records_succeeds_and_moves_the_cursor(
    scripted: ScriptedHarness,
) -> None:
    scripted.merge.page(EMPLOYEES, MIXED_PAGE)
    account = scripted.new_account()
    result = scripted.sync(account, EMPLOYEE)
    with scripted.engine.connect() as connection:
        history = connection.execute(
            sa.select(sync_runs.c.status, sync_runs.c.error).where(
                sync_runs.c.linked_account_id == account
            )
        ).one()
        cursor = read_cursor(connection, account, EMPLOYEE)
    assert (history.status, history.error, cursor) == ("succeeded", None, result.cursor_after)
    assert cursor is not None


def test_quarantined_record_is_fetched_again_by_id_and_stored_once_it_is_fine(
    scripted: ScriptedHarness,
) -> None:
    scripted.merge.page(EMPLOYEES, [_record("e1"), _record("e2", start_date=42)])
    account = scripted.new_account()
    scripted.sync(account, EMPLOYEE)
    fixed = _record("e2", start_date="2020-05-01T00:00:00Z")
    scripted.merge.page(EMPLOYEES, [])  # the incremental listing no longer names it
    scripted.merge.records[f"{EMPLOYEES}/e2"] = fixed
    result = scripted.sync(account, EMPLOYEE)
    assert _mirror(scripted, account, EMPLOYEE)["e2"]._raw == fixed
    assert (result.quarantine_resolved, result.quarantine_pending) == (1, 0)


def test_quarantined_record_that_merge_no_longer_has_is_resolved_as_gone(
    scripted: ScriptedHarness,
) -> None:
    scripted.merge.page(EMPLOYEES, [_record("e2", start_date=42)])
    account = scripted.new_account()
    scripted.sync(account, EMPLOYEE)
    scripted.merge.page(EMPLOYEES, [])
    scripted.sync(account, EMPLOYEE)  # GET .../e2 answers 404
    [entry] = _quarantine(scripted, account)
    assert entry.resolution == "gone"


def test_model_without_retrieve_by_id_keeps_its_cursor_while_a_record_waits(
    scripted: ScriptedHarness,
) -> None:
    """ats.Tag has no retrieve endpoint: the waiting record is listed again instead."""
    account = scripted.new_account()
    scripted.merge.page(TAGS, [{"remote_id": "t1", "name": "ok", "modified_at": T0}])
    first = scripted.sync(account, TAG)
    scripted.merge.page(TAGS, [{"remote_id": "t2", "name": "bad time", "modified_at": 7}])
    held = scripted.sync(account, TAG)
    held_by = _cursor_writer(scripted, account, TAG)
    scripted.merge.page(TAGS, [{"remote_id": "t2", "name": "fixed", "modified_at": T0}])
    moved = scripted.sync(account, TAG)
    assert (held.quarantine_pending, held_by) == (1, first.sync_run_id)
    assert (moved.quarantine_pending, _cursor_writer(scripted, account, TAG)) == (
        0,
        moved.sync_run_id,
    )


def _cursor_writer(scripted: ScriptedHarness, account: str, model_id: str) -> str:
    """The sync run that last moved the pair's cursor."""
    c = sync_cursors.c
    with scripted.engine.connect() as connection:
        writer: str = connection.execute(
            sa.select(c.sync_run_id).where(c.linked_account_id == account, c.model_id == model_id)
        ).scalar_one()
    return writer


def test_quarantined_record_is_not_marked_missing_by_a_full_refresh(
    scripted: ScriptedHarness,
) -> None:
    account = scripted.new_account()
    scripted.merge.page(EMPLOYEES, [_record("e1"), _record("e2")])
    scripted.sync(account, EMPLOYEE)
    scripted.merge.page(EMPLOYEES, [_record("e1"), _record("e2", start_date=False)])
    result = scripted.sync(account, EMPLOYEE, full=True)
    assert (result.records_marked_absent, result.records_quarantined) == (0, 1)
    assert _mirror(scripted, account, EMPLOYEE)["e2"].remote_was_deleted is False


@pytest.mark.timeout(120)
def test_one_failing_model_never_stops_the_others_nor_other_accounts(
    scripted: ScriptedHarness,
) -> None:
    first, second = scripted.new_account(), scripted.new_account()
    scripted.merge.page(EMPLOYEES, MIXED_PAGE)  # NULs and bad records: a database error before
    scripted.merge.page(COMPANIES, [_record("c1")], "A")
    scripted.merge.page(COMPANIES, [_record("c2")], "B", cursor="A")
    scripted.merge.page(COMPANIES, [_record("c3")], "A", cursor="B")  # a cycle every time
    scripted.merge.page(GROUPS, [_record("g1")])
    hris = load_catalog().category("hris")
    plan = {account: [hris.model(n) for n in ("Employee", "Company", "Group")]
            for account in (first, second)}  # fmt: skip
    with scripted.engine.connect() as holder, sync_lock(holder, second, GROUP):
        outcomes = sync_accounts(
            scripted.engine,
            scripted.settings,
            scripted.vault,
            plan,
            options=SyncOptions(lock_timeout_s=0.5),
            client_factory=lambda settings: MergeClient(settings, retry_policy=FAST_RETRIES),
        )
    assert {(o.linked_account_id, o.model_id): o.ok for o in outcomes} == {
        (first, EMPLOYEE): True,
        (first, COMPANY): False,
        (first, GROUP): True,
        (second, EMPLOYEE): True,
        (second, COMPANY): False,
        (second, GROUP): False,
    }
    errors = {o.model_id: o.error or "" for o in outcomes if o.linked_account_id == second}
    assert "cycle" in errors[COMPANY]
    assert "held the lock" in errors[GROUP]


def test_failure_text_in_history_carries_no_row_data(scripted: ScriptedHarness) -> None:
    """A database error quotes values and SQLAlchemy adds the parameters: neither is kept."""
    from merge_pipeline.sync.failure import describe_failure

    with scripted.engine.connect() as connection, pytest.raises(sa.exc.DBAPIError) as raised:
        connection.execute(sa.text("SELECT CAST(:v AS bigint)"), {"v": "ROW-DATA-SENTINEL"})
    assert "ROW-DATA-SENTINEL" in str(raised.value)  # the raw error does quote it
    assert (
        describe_failure(raised.value)
        == "database error SQLSTATE 22P02 (InvalidTextRepresentation)"
    )


def test_duplicates_in_one_page_keep_the_latest_instant_not_the_latest_text(
    scripted: ScriptedHarness,
) -> None:
    """ "...00Z" sorts after "...00.500000Z" as text, but is half a second earlier."""
    account = scripted.new_account()
    newer = _record("e1", first_name="newer", modified_at="2026-01-01T00:00:00.500000Z")
    older = _record("e1", first_name="older", modified_at="2026-01-01T00:00:00Z")
    scripted.merge.page(EMPLOYEES, [newer, older])
    scripted.sync(account, EMPLOYEE)
    assert _mirror(scripted, account, EMPLOYEE)["e1"].first_name == "newer"


@pytest.mark.parametrize(
    "written",
    ["2026-01-01T02:00:00.5+02:00", "2025-12-31T18:30:00.500-05:30", "2026-01-01T00:00:00.5"],
)
def test_odd_timestamp_formats_are_stored_as_the_instant_they_name(
    scripted: ScriptedHarness, written: str
) -> None:
    account = scripted.new_account()
    scripted.merge.page(EMPLOYEES, [_record("e1", modified_at=written)])
    scripted.sync(account, EMPLOYEE)
    with scripted.engine.connect() as connection:
        same = connection.execute(
            sa.text(
                "SELECT modified_at = timestamptz '2026-01-01T00:00:00.5Z' FROM hris.employee "
                "WHERE linked_account_id = :a"
            ),
            {"a": account},
        ).scalar_one()
    assert same is True


def test_exact_record_json_round_trips_nuls(scripted: ScriptedHarness) -> None:
    """The quarantine's json column keeps \\u0000 escapes (jsonb would refuse them)."""
    record = _record("e9", start_date=1, first_name="x\x00y")
    scripted.merge.page(EMPLOYEES, [record])
    account = scripted.new_account()
    scripted.sync(account, EMPLOYEE)
    [entry] = _quarantine(scripted, account)
    assert orjson.dumps(entry.raw) == orjson.dumps(record)


def test_every_pair_gets_an_outcome_even_when_no_client_can_be_built(
    scripted: ScriptedHarness,
) -> None:
    def no_client(settings: Any) -> MergeClient:
        raise RuntimeError("no client today")

    accounts = [scripted.new_account(), scripted.new_account()]
    hris = load_catalog().category("hris")
    plan = {account: [hris.model("Employee"), hris.model("Group")] for account in accounts}
    outcomes = sync_accounts(
        scripted.engine,
        scripted.settings,
        scripted.vault,
        plan,
        options=SyncOptions(),
        client_factory=no_client,
    )
    assert sorted((o.linked_account_id, o.model_id, o.ok) for o in outcomes) == sorted(
        (account, model, False) for account in accounts for model in (EMPLOYEE, GROUP)
    )


def test_a_row_the_database_refuses_is_quarantined_and_its_page_stored_row_by_row(
    scripted: ScriptedHarness,
) -> None:
    """The safety net behind shaping: an id too long for the primary key's index (SQLSTATE
    54000) passes every type check, yet PostgreSQL refuses the row."""
    huge_id = secrets.token_urlsafe(6000)
    scripted.merge.page(EMPLOYEES, [_record("e1"), _record(huge_id), _record("e3")])
    account = scripted.new_account()
    result = scripted.sync(account, EMPLOYEE)
    [entry] = _quarantine(scripted, account)
    assert (sorted(_mirror(scripted, account, EMPLOYEE)), entry.record_id) == (
        ["e1", "e3"],
        huge_id,
    )
    assert (
        entry.reason
        == "the database refused it: database error SQLSTATE 54000 (ProgramLimitExceeded)"
    )
    assert (result.records_received, result.records_inserted) == (3, 2)

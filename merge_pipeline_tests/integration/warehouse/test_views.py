"""The analysts' views: ``<category>_current.<table>`` shows a mirror table's live rows only."""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from merge_pipeline.catalog import load_catalog
from merge_pipeline.sync.records import RecordShaper
from merge_pipeline.warehouse.migrate import migrate
from merge_pipeline.warehouse.mirror_tables import ABSENT_SINCE, mirror_tables
from merge_pipeline.warehouse.upsert import upsert_rows
from merge_pipeline.warehouse.views import current_schema, reconcile_views

COMPANY = mirror_tables()["hris.Company"]


def _upsert_companies(engine: sa.Engine, account: str, *records: dict[str, Any]) -> None:
    model = load_catalog().model("hris.Company")
    rows = RecordShaper(load_catalog(), model, account).shape_page(records).rows
    with engine.begin() as connection:
        upsert_rows(connection, COMPANY, rows, "run-views")


def _company(record_id: str, deleted: bool = False) -> dict[str, Any]:
    return {
        "id": record_id,
        "legal_name": f"Company {record_id}",
        "modified_at": "2026-01-01T00:00:00Z",
        "remote_was_deleted": deleted,
    }


def _ids(engine: sa.Engine, relation: str, account: str) -> set[str]:
    with engine.connect() as connection:
        return set(
            connection.execute(
                sa.text(f"SELECT id FROM {relation} WHERE linked_account_id = :account"),
                {"account": account},
            ).scalars()
        )


@pytest.fixture
def private_company(engine: sa.Engine) -> Iterator[sa.Table]:
    """A copy of ``hris.company`` in a schema of its own, so a test may change its columns."""
    schema = f"views_{uuid.uuid4().hex[:8]}"
    table = COMPANY.to_metadata(sa.MetaData(), schema=schema)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        table.create(connection)
    yield table
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}", "{schema}_current" CASCADE'))


def test_every_mirror_table_has_a_view_of_the_same_name_in_its_current_schema(
    engine: sa.Engine,
) -> None:
    inspector = sa.inspect(engine)
    for category in load_catalog().categories.values():
        tables = set(inspector.get_table_names(schema=category.name))
        assert set(inspector.get_view_names(schema=current_schema(category.name))) == tables


def test_the_current_view_hides_rows_deleted_in_merge(engine: sa.Engine) -> None:
    account = f"acct-{uuid.uuid4()}"
    _upsert_companies(engine, account, _company("live"), _company("gone", deleted=True))
    assert _ids(engine, "hris.company", account) == {"live", "gone"}
    assert _ids(engine, "hris_current.company", account) == {"live"}


def test_rows_absent_from_the_last_full_relist_are_hidden(
    engine: sa.Engine, private_company: sa.Table
) -> None:
    schema = private_company.schema
    with engine.begin() as connection:
        reconcile_views(connection, [private_company])
        for record_id, deleted, absent in (
            ("live", False, None),
            ("gone", True, None),
            ("unlisted", False, sa.func.now()),
        ):
            connection.execute(
                sa.insert(private_company).values(
                    linked_account_id="a",
                    id=record_id,
                    _raw={},
                    remote_was_deleted=deleted,
                    **{ABSENT_SINCE: absent},
                )
            )
    assert _ids(engine, f'"{schema}_current".company', "a") == {"live"}


def test_a_view_is_remade_when_its_table_gains_a_column(
    engine: sa.Engine, private_company: sa.Table
) -> None:
    with engine.begin() as connection:
        reconcile_views(connection, [private_company])
        connection.execute(
            sa.text(f'ALTER TABLE "{private_company.schema}".company ADD COLUMN added text')
        )
        private_company.append_column(sa.Column("added", sa.Text()))
        assert reconcile_views(connection, [private_company]) == [
            f"{private_company.schema}_current.company"
        ]
    columns = sa.inspect(engine).get_columns("company", schema=f"{private_company.schema}_current")
    assert columns[-1]["name"] == "added"


def test_an_up_to_date_database_keeps_its_views_untouched(engine: sa.Engine) -> None:
    assert migrate(engine).made_views == []

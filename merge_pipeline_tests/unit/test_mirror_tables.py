"""Mirror table shapes follow the catalog: typed columns, references as ids, jsonb for the rest."""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from merge_pipeline.catalog import load_catalog
from merge_pipeline.warehouse.mirror_tables import mirror_tables, table_name


def test_one_table_per_model_in_a_schema_per_category() -> None:
    tables = mirror_tables()
    assert len(tables) == len(load_catalog())
    assert tables["hris.Employee"].schema == "hris"
    assert tables["hris.Employee"].name == "employee"
    assert table_name(load_catalog().model("hris.EmployeePayrollRun")) == "employee_payroll_run"


def test_primary_key_is_linked_account_and_id() -> None:
    for table in mirror_tables().metadata.sorted_tables:
        assert [c.name for c in table.primary_key.columns] == ["linked_account_id", "id"]


def test_columns_are_typed_from_field_types() -> None:
    employee = mirror_tables()["hris.Employee"]
    assert isinstance(employee.c.modified_at.type, sa.DateTime)
    assert employee.c.modified_at.type.timezone
    assert isinstance(employee.c.manager.type, sa.Text)
    assert isinstance(employee.c.groups.type, pg.ARRAY)
    assert isinstance(employee.c.custom_fields.type, pg.JSONB)
    assert isinstance(employee.c.employment_status.type, sa.Text)
    assert isinstance(employee.c._raw.type, pg.JSONB)


def test_every_table_tracks_deletion_even_without_the_field() -> None:
    period = mirror_tables()["accounting.AccountingPeriod"]
    assert (
        "remote_was_deleted" not in load_catalog().model("accounting.AccountingPeriod").field_names
    )
    assert not period.c.remote_was_deleted.nullable

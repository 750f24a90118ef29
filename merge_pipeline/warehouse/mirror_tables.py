"""Mirror tables, derived from the catalog: one PostgreSQL schema per category, a table per model.

Every table has the primary key ``(linked_account_id, id)``, a typed column per Common Model field,
the full record as ``jsonb`` and bookkeeping columns. Bookkeeping names start with ``_`` so they
can never collide with a Merge field (none starts with ``_``).
"""

import re
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from merge_pipeline.catalog import Catalog, CommonModel, Field, load_catalog

LINKED_ACCOUNT_ID = "linked_account_id"
RECORD_ID = "id"
RAW = "_raw"
#: the record exactly as Merge sent it, only when ``_raw`` had to differ (NULs; see sync.storable)
RAW_EXACT = "_raw_exact"
MIRRORED_AT = "_mirrored_at"
SYNC_RUN_ID = "_sync_run_id"
#: when a full listing first left the row out (NULL while Merge lists it); our observation, never
#: Merge's ``remote_was_deleted``, which only ever says what Merge said
ABSENT_SINCE = "_absent_since"
#: nested models only: the parent the row was last listed under (the path's id); lets a listing
#: of some parents mark absent only those parents' children, and joins any child to its parent
PARENT_ID = "_parent_id"
BOOKKEEPING_COLUMNS = (RAW, RAW_EXACT, MIRRORED_AT, SYNC_RUN_ID, ABSENT_SINCE, PARENT_ID)


def table_name(model: CommonModel) -> str:
    """``EmployeePayrollRun`` -> ``employee_payroll_run``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", model.name).lower()


def schema_name(category: str) -> str:
    """Each category gets its own schema, named as Merge names the category (``hris``)."""
    return category


def column_type(field: Field) -> sa.types.TypeEngine[Any]:
    """How a field is stored: timestamps as timestamptz, references as text ids, the rest typed."""
    if field.ref is not None:
        return pg.ARRAY(sa.Text()) if field.many else sa.Text()
    if field.is_timestamp:
        return sa.DateTime(timezone=True)
    simple: dict[str, sa.types.TypeEngine[Any]] = {
        "string": sa.Text(),
        "boolean": sa.Boolean(),
        "integer": sa.BigInteger(),
        "number": sa.Double(),
    }
    return simple.get(field.type, pg.JSONB())


def mirror_table(model: CommonModel, metadata: sa.MetaData) -> sa.Table:
    """The mirror table of one Common Model."""
    columns: list[sa.Column[Any]] = [
        sa.Column(LINKED_ACCOUNT_ID, sa.Text(), primary_key=True),
        sa.Column(RECORD_ID, sa.Text(), primary_key=True),
    ]
    for field in model.fields:
        if field.name == RECORD_ID:
            continue
        if field.name == "remote_was_deleted":
            columns.append(
                sa.Column(field.name, sa.Boolean(), nullable=False, server_default=sa.false())
            )
        else:
            columns.append(sa.Column(field.name, column_type(field), nullable=True))
    if "remote_was_deleted" not in model.field_names:
        # Deletion is tracked for every model, even those whose payload lacks the field.
        columns.append(
            sa.Column("remote_was_deleted", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    columns += [
        sa.Column(RAW, pg.JSONB(), nullable=False),
        # json, not jsonb: json keeps a \u0000 escape verbatim, jsonb refuses it
        sa.Column(RAW_EXACT, pg.JSON(), nullable=True),
        sa.Column(
            MIRRORED_AT, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(SYNC_RUN_ID, sa.Text(), nullable=True),
        sa.Column(ABSENT_SINCE, sa.DateTime(timezone=True), nullable=True),
    ]
    if model.is_nested:
        columns.append(sa.Column(PARENT_ID, sa.Text(), nullable=True))
    name = table_name(model)
    return sa.Table(
        name,
        metadata,
        *columns,
        sa.Index(f"ix_{name}_account_modified", LINKED_ACCOUNT_ID, "modified_at"),
        schema=schema_name(model.category),
        comment=f"Merge {model.model_id} ({model.list_path}), mirrored by merge-pipeline",
    )


class MirrorTables:
    """All mirror tables of a catalog, looked up by model."""

    def __init__(self, catalog: Catalog) -> None:
        self.metadata = sa.MetaData()
        self._tables = {model.model_id: mirror_table(model, self.metadata) for model in catalog}

    def __getitem__(self, model: CommonModel | str) -> sa.Table:
        key = model if isinstance(model, str) else model.model_id
        return self._tables[key]

    def __len__(self) -> int:
        return len(self._tables)

    @property
    def schemas(self) -> list[str]:
        return sorted({t.schema for t in self._tables.values() if t.schema})


@cache
def mirror_tables() -> MirrorTables:
    """The mirror tables of the committed catalog (built once per process)."""
    return MirrorTables(load_catalog())

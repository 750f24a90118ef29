"""One Common Model of the mirror as a pandas DataFrame, for notebooks and ad-hoc analysis.

    from merge_pipeline.analysis import read_model

    employees = read_model("hris.Employee", linked_account_id="3f0c...")
    everyone_ever = read_model("hris.Employee", include_deleted=True)

Columns are the typed mirror columns (timestamps are timezone-aware, references are Merge ids,
nested objects are dicts); the full Merge record (``_raw``) only when asked for. By default only
live rows are returned: the rows the ``<category>_current`` views show.
"""

import pandas as pd
import sqlalchemy as sa

from merge_pipeline.catalog import load_catalog
from merge_pipeline.warehouse.mirror_tables import LINKED_ACCOUNT_ID, RAW, RECORD_ID, mirror_tables
from merge_pipeline.warehouse.views import live_rows


def model_query(
    model_id: str,
    linked_account_id: str | None = None,
    *,
    include_deleted: bool = False,
    include_raw: bool = False,
) -> sa.Select[tuple[object, ...]]:
    """The ``SELECT`` behind :func:`read_model` (for callers who want SQL, not a DataFrame)."""
    model = load_catalog().model(model_id)  # KeyError names the unknown model
    table = mirror_tables()[model]
    columns = [column for column in table.c if include_raw or column.name != RAW]
    query = sa.select(*columns).order_by(table.c[LINKED_ACCOUNT_ID], table.c[RECORD_ID])
    if linked_account_id is not None:
        query = query.where(table.c[LINKED_ACCOUNT_ID] == linked_account_id)
    if not include_deleted:
        query = query.where(live_rows(table))
    return query


def read_model(
    model_id: str,
    linked_account_id: str | None = None,
    *,
    include_deleted: bool = False,
    include_raw: bool = False,
    engine: sa.Engine | None = None,
) -> pd.DataFrame:
    """Every mirrored record of ``model_id`` (e.g. ``"hris.Employee"``), one row per record.

    ``linked_account_id`` limits it to one account (default: every account, told apart by the
    ``linked_account_id`` column). ``engine`` defaults to the warehouse the settings point to.
    """
    query = model_query(
        model_id, linked_account_id, include_deleted=include_deleted, include_raw=include_raw
    )
    if engine is None:
        from merge_pipeline.warehouse.database import warehouse_engine

        engine = warehouse_engine()
    with engine.connect() as connection:
        return pd.read_sql(query, connection)

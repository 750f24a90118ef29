"""What each peer's destination holds, in the comparator's shape, and its disk per record.

merge-pipeline: its mirror tables (keyed by their record key; a row is deleted when
``remote_was_deleted`` or ``_absent_since`` says so). dlt: the tables its REST source loaded
into ``<prefix>_<category>`` (one per model, plus the child tables dlt makes of nested lists,
and its own ``_dlt_*`` ones).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from benchmarks.peers.correctness import Row, instant
from merge_pipeline.catalog import CommonModel
from merge_pipeline.warehouse.mirror_tables import (
    ABSENT_SINCE,
    RAW,
    RAW_EXACT,
    RECORD_ID,
    mirror_tables,
)


@dataclass(frozen=True)
class PeerModel:
    """A model as the peers see it: its path, key, table name and cursor support."""

    model_id: str
    category: str
    path: str
    key: str
    table: str
    incremental: bool
    parent: str | None
    path_param: str | None

    @classmethod
    def of(cls, model: CommonModel) -> "PeerModel":
        table = mirror_tables()[model].name
        parent = path_param = None
        if model.is_nested:
            [param] = model.path_params
            parent, path_param = f"{model.category}.{param.model}", param.name
        path = model.list_path.split("/v1/", 1)[1]
        return cls(
            model.model_id, model.category, path, model.key, table,
            model.supports_modified_after, parent, path_param,
        )  # fmt: skip


def ours(
    connection: sa.Connection, models: Iterable[CommonModel], accounts: Sequence[str]
) -> dict[str, dict[str, Row]]:
    held: dict[str, dict[str, Row]] = {}
    tables = mirror_tables()
    for model in models:
        table = tables[model]
        deleted = sa.or_(table.c.remote_was_deleted, table.c[ABSENT_SINCE].is_not(None))
        query = sa.select(table.c[RECORD_ID], table.c.modified_at, deleted).where(
            table.c.linked_account_id.in_(accounts)
        )
        held[model.model_id] = {
            str(key): Row(modified, bool(gone)) for key, modified, gone in connection.execute(query)
        }
    return held


def dlt_schema(prefix: str, category: str) -> str:
    return f"{prefix}_{category}"


def dlt(
    connection: sa.Connection, models: Iterable[PeerModel], prefix: str
) -> dict[str, dict[str, Row]]:
    held: dict[str, dict[str, Row]] = {}
    for model in models:
        schema = dlt_schema(prefix, model.category)
        exists = connection.execute(
            sa.text("SELECT to_regclass(:t)"), {"t": f'"{schema}"."{model.table}"'}
        ).scalar_one()
        if exists is None:
            held[model.model_id] = {}
            continue
        columns = set(
            connection.execute(
                sa.text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = :s AND table_name = :t"
                ),
                {"s": schema, "t": model.table},
            ).scalars()
        )  # dlt makes a column only for fields it has seen
        deleted = "remote_was_deleted" if "remote_was_deleted" in columns else "false"
        rows = connection.execute(
            sa.text(
                f'SELECT "{model.key}", modified_at, coalesce({deleted}, false) '
                f'FROM "{schema}"."{model.table}"'
            )
        )
        held[model.model_id] = {str(k): Row(instant(m), bool(d)) for k, m, d in rows}
    return held


def bytes_in_schemas(connection: sa.Connection, schemas: Sequence[str]) -> Mapping[str, int]:
    """``pg_total_relation_size`` (heap, indexes, TOAST) of every table of ``schemas``."""
    rows = connection.execute(
        sa.text(
            "SELECT n.nspname || '.' || c.relname, pg_total_relation_size(c.oid) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND n.nspname = ANY(:schemas)"
        ),
        {"schemas": list(schemas)},
    )
    return {name: int(size) for name, size in rows}


def json_bytes(connection: sa.Connection, models: Iterable[CommonModel]) -> int:
    """Bytes merge-pipeline's rows spend on the whole record as JSON (``_raw``, ``_raw_exact``),
    as stored (``pg_column_size``: after compression)."""
    total = 0
    tables = mirror_tables()
    for model in models:
        table = tables[model]
        total += connection.execute(
            sa.select(
                sa.func.coalesce(
                    sa.func.sum(
                        sa.func.pg_column_size(table.c[RAW])
                        + sa.func.coalesce(sa.func.pg_column_size(table.c[RAW_EXACT]), 0)
                    ),
                    0,
                )
            )
        ).scalar_one()
    return int(total)

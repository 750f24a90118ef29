"""Bulk upserts into mirror tables that never let an older version win.

Each page is ``COPY``-ed into a per-connection staging table, then merged with one
``INSERT ... SELECT ... ON CONFLICT (linked_account_id, id) DO UPDATE ... WHERE newer``, which
also deletes the staged rows (the table is empty again for the next upsert of the transaction,
without a ``TRUNCATE``, which gives a temporary table a new file each time). The update
applies only when the incoming ``modified_at`` is newer (or the stored row has none), or, at the
same ``modified_at``, when the content differs, or when the row was marked absent (Merge lists it
again, so it is back); so re-applied pages are no-ops, and a page that arrives late (an expanded
object, a retry) cannot overwrite a newer row. Rows are merged in id order, so every transaction
takes the row locks of a table in the same order (no deadlock between two upserts of a table).

Why COPY: ``python -m benchmarks.upsert`` measured it at 2.5-3.6x the rows/s of an executemany
``INSERT ... ON CONFLICT`` for 100-row pages (SQLAlchemy's per-parameter processing dominates
the latter), and at about 2x the time of a bare ``COPY`` with no conflict handling (the ceiling).
"""

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from merge_pipeline.warehouse.mirror_tables import (
    ABSENT_SINCE,
    LINKED_ACCOUNT_ID,
    MIRRORED_AT,
    RECORD_ID,
    SYNC_RUN_ID,
)

Row = dict[str, Any]
_KEYS = (LINKED_ACCOUNT_ID, RECORD_ID)


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """How one upsert went: rows inserted, updated, left alone (not newer), and transitions.

    ``deleted`` counts rows that went from live to ``remote_was_deleted`` (not every record
    received with the flag: a re-read of an already deleted record is no new deletion);
    ``returned`` counts rows marked absent that Merge listed again.
    """

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    returned: int = 0

    def __add__(self, other: "UpsertCounts") -> "UpsertCounts":
        return UpsertCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.deleted + other.deleted,
            self.returned + other.returned,
        )


def _array_literal(values: Sequence[Any]) -> str:
    items = []
    for value in values:
        if value is None:
            items.append("NULL")
        else:
            text = str(value).replace("\\", "\\\\").replace('"', '\\"')
            items.append(f'"{text}"')
    return "{" + ",".join(items) + "}"


def _quoted(text: str) -> str:
    """A CSV field, always quoted, so an empty string is never read back as NULL."""
    return '"' + text.replace('"', '""') + '"'


def _encode_array(value: Any) -> str:
    return _quoted(_array_literal(value)) if isinstance(value, list) else ""


def _encode_json(value: Any) -> str:
    return _quoted(orjson.dumps(value).decode())


def _encode_scalar(value: Any) -> str:
    if type(value) is str:  # most values: skip the checks below and a call (CPU per field)
        return '"' + value.replace('"', '""') + '"'
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime):
        return _quoted(value.isoformat())
    return _quoted(str(value))


FieldEncoder = Callable[[Any], str]


def _encoder(column: sa.Column[Any]) -> FieldEncoder:
    """How one column's values are written for COPY (chosen once per column, not per value)."""
    if isinstance(column.type, pg.ARRAY):
        return _encode_array
    if isinstance(column.type, pg.JSONB):
        return _encode_json
    return _encode_scalar


def copy_columns(table: sa.Table) -> list[sa.Column[Any]]:
    """The columns a page fills (``_mirrored_at`` is the server's ``now()``)."""
    return [c for c in table.columns if c.name != MIRRORED_AT]


def encode_copy_csv(columns: Sequence[sa.Column[Any]], rows: Sequence[Row]) -> io.StringIO:
    """Rows as the CSV that ``COPY ... WITH (FORMAT csv)`` reads; SQL NULL is an empty field."""
    plan = [(c.name, _encoder(c)) for c in columns]
    lines = [
        ",".join(
            ["" if (value := row.get(name)) is None else encode(value) for name, encode in plan]
        )
        for row in rows
    ]
    lines.append("")
    return io.StringIO("\n".join(lines))


_NEVER = datetime.min.replace(tzinfo=UTC)


def _instant(value: Any) -> datetime:
    """A row's ``modified_at`` as an instant to compare (text compares wrongly: "...00Z" sorts
    after "...00.500000Z"); a missing or unreadable one counts as oldest."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return _NEVER
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return _NEVER


def _latest_per_key(rows: Sequence[Row]) -> list[Row]:
    """One row per key (the newest; the later one on a tie): ON CONFLICT cannot touch a row
    twice in one statement."""
    latest: dict[tuple[Any, Any], Row] = {}
    for row in rows:
        key = (row[LINKED_ACCOUNT_ID], row[RECORD_ID])
        kept = latest.get(key)
        if kept is None or _instant(row.get("modified_at")) >= _instant(kept.get("modified_at")):
            latest[key] = row
    return list(latest.values())


def _staging_name(table: sa.Table) -> str:
    return f"staging_{table.schema}_{table.name}"


def _merge_sql(table: sa.Table, columns: list[str]) -> str:
    target = f'"{table.schema}"."{table.name}"'
    staging = _staging_name(table)
    quoted = ", ".join(f'"{c}"' for c in columns)
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c not in _KEYS)
    # Identifiers come from our own catalog-derived metadata, never from input. ``before`` reads
    # the rows as they were (same snapshot as the insert), so transitions can be counted.
    return (
        f"WITH staged AS (DELETE FROM {staging} RETURNING {quoted}), "  # noqa: S608
        f"before AS (SELECT t.{RECORD_ID}, t.remote_was_deleted AS was_deleted, "
        f"t.{ABSENT_SINCE} IS NOT NULL AS was_absent FROM {target} t JOIN staged s "
        f"ON s.{LINKED_ACCOUNT_ID} = t.{LINKED_ACCOUNT_ID} AND s.{RECORD_ID} = t.{RECORD_ID}), "
        f"merged AS (INSERT INTO {target} AS t ({quoted}) "
        f"SELECT {quoted} FROM staged ORDER BY {RECORD_ID} "
        f"ON CONFLICT ({LINKED_ACCOUNT_ID}, {RECORD_ID}) DO UPDATE SET {updates}, "
        f"{MIRRORED_AT} = now() "
        "WHERE t.modified_at IS NULL OR EXCLUDED.modified_at > t.modified_at "
        "OR (EXCLUDED.modified_at = t.modified_at AND (EXCLUDED._raw <> t._raw "
        "OR EXCLUDED._raw_exact::text IS DISTINCT FROM t._raw_exact::text)) "
        f"OR t.{ABSENT_SINCE} IS NOT NULL "
        f"RETURNING (xmax = 0) AS inserted, t.{RECORD_ID}, t.remote_was_deleted) "
        # xmax = 0 only on a freshly inserted tuple
        "SELECT m.inserted, m.remote_was_deleted, b.was_deleted, b.was_absent "
        f"FROM merged m LEFT JOIN before b ON b.{RECORD_ID} = m.{RECORD_ID}"
    )


def _create_staging_sql(table: sa.Table) -> str:
    return (
        f"CREATE TEMP TABLE IF NOT EXISTS {_staging_name(table)} "
        f'(LIKE "{table.schema}"."{table.name}" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS'
    )


def prepare_staging(connection: sa.Connection, table: sa.Table) -> None:
    """Create ``table``'s staging table now; commit before passing ``staging_ready=True`` to
    :func:`upsert_rows` (a staging table created in a page's transaction goes if it rolls back).
    """
    connection.exec_driver_sql(_create_staging_sql(table))


def upsert_rows(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[Row],
    sync_run_id: str | None,
    *,
    staging_ready: bool = False,
) -> UpsertCounts:
    """Upsert rows (already shaped as columns) of one table, in the caller's transaction.

    ``staging_ready``: the staging table exists (:func:`prepare_staging`, committed), which
    saves a statement per page.
    """
    if not rows:
        return UpsertCounts()
    unique = _latest_per_key(rows)
    for row in unique:
        row[SYNC_RUN_ID] = sync_run_id
    columns = copy_columns(table)
    buffer = encode_copy_csv(columns, unique)
    names = [c.name for c in columns]
    staging = _staging_name(table)
    # Statements go through SQLAlchemy so that its transaction is begun (and the caller's
    # commit really commits); only COPY needs the driver's cursor, inside that transaction.
    if not staging_ready:
        connection.exec_driver_sql(_create_staging_sql(table))
    columns_sql = ", ".join(f'"{n}"' for n in names)
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(f"COPY {staging} ({columns_sql}) FROM STDIN WITH (FORMAT csv)", buffer)
    finally:
        cursor.close()
    results = connection.exec_driver_sql(_merge_sql(table, names)).all()
    inserted = sum(1 for row in results if row.inserted)
    deleted = sum(1 for r in results if r.remote_was_deleted and r.was_deleted is False)
    returned = sum(1 for r in results if r.was_absent)
    return UpsertCounts(
        inserted, len(results) - inserted, len(rows) - len(results), deleted, returned
    )


_STAGING_TABLES = sa.text(
    "SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema() AND relkind = 'r' "
    "AND relname LIKE 'staging\\_%'"
)


def release_staging(connection: sa.Connection) -> None:
    """Drop this session's staging tables (call when a sync is done with the connection).

    PostgreSQL empties every ``ON COMMIT DELETE ROWS`` table of the session at each commit of a
    transaction that used a temporary table, so a pooled connection that kept the staging
    tables of every model it ever synced paid one truncation per table at every page's commit
    (a one-row insert and commit: 1.7-2.6 ms with one such table, 11-26 ms with 16).
    """
    names = connection.execute(_STAGING_TABLES).scalars().all()
    if names:
        # names read from the catalog, all ours (``staging_<schema>_<table>``)
        connection.exec_driver_sql("DROP TABLE IF EXISTS " + ", ".join(f'"{n}"' for n in names))


#: ids a full fetch has returned so far, in a temporary table, so memory stays flat
_SEEN = sa.table("merge_pipeline_seen_ids", sa.column("id", sa.Text))


def start_full_fetch(connection: sa.Connection) -> datetime:
    """Begin tracking the ids of a full fetch on this connection (survives per-page commits).

    Returns the database's time at the start: rows written after it (by a concurrent sync that
    expanded this model) are never marked absent by this listing, which could not see them.
    """
    # a hash index, not a primary key: a listed id too long for a btree entry (a quarantined
    # record's) must still be remembered; a repeated id is harmless to the NOT EXISTS check
    connection.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS merge_pipeline_seen_ids (id text)")
    connection.exec_driver_sql(
        "CREATE INDEX IF NOT EXISTS merge_pipeline_seen_ids_id "
        "ON merge_pipeline_seen_ids USING hash (id)"
    )
    connection.exec_driver_sql("TRUNCATE merge_pipeline_seen_ids")
    started: datetime = connection.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
    return started


def remember_seen(connection: sa.Connection, ids: Sequence[str]) -> None:
    """Note ids the full fetch returned (call after :func:`start_full_fetch`)."""
    if ids:
        connection.execute(
            sa.text("INSERT INTO merge_pipeline_seen_ids (id) SELECT unnest(CAST(:ids AS text[]))"),
            {"ids": list(ids)},
        )


def _unseen(
    table: sa.Table,
    linked_account_id: str,
    listing_started: datetime,
    scope: sa.ColumnElement[bool] | None,
) -> sa.ColumnElement[bool]:
    return sa.and_(
        _present(table, linked_account_id, scope),
        table.c[MIRRORED_AT] < listing_started,
        ~sa.exists().where(_SEEN.c.id == table.c[RECORD_ID]),
    )


def _present(
    table: sa.Table, linked_account_id: str, scope: sa.ColumnElement[bool] | None
) -> sa.ColumnElement[bool]:
    return sa.and_(
        table.c[LINKED_ACCOUNT_ID] == linked_account_id,
        table.c[ABSENT_SINCE].is_(None),
        sa.true() if scope is None else scope,
    )


def count_unseen(
    connection: sa.Connection,
    table: sa.Table,
    linked_account_id: str,
    listing_started: datetime,
    scope: sa.ColumnElement[bool] | None = None,
) -> tuple[int, int]:
    """``(rows the full fetch has not returned, rows present)``, before marking anything.

    ``scope`` limits both to the rows the fetch covered (a nested model's listing of some
    parents covers only their children); None means the whole account's table.
    """
    row = connection.execute(
        sa.select(
            sa.func.count().filter(_unseen(table, linked_account_id, listing_started, scope)),
            sa.func.count().filter(_present(table, linked_account_id, scope)),
        ).select_from(table)
    ).one()
    return int(row[0]), int(row[1])


def unseen_values(
    connection: sa.Connection,
    table: sa.Table,
    column: str,
    linked_account_id: str,
    listing_started: datetime,
    scope: sa.ColumnElement[bool] | None = None,
) -> set[Any]:
    """The distinct ``column`` values of the rows the full fetch has not returned (for a
    nested model: the parents a confirmation listing must list again)."""
    rows = connection.execute(
        sa.select(table.c[column])
        .where(_unseen(table, linked_account_id, listing_started, scope))
        .distinct()
    )
    return {row[0] for row in rows}


def mark_absent(
    connection: sa.Connection,
    table: sa.Table,
    linked_account_id: str,
    listing_started: datetime,
    scope: sa.ColumnElement[bool] | None = None,
) -> int:
    """After a complete full fetch, stamp ``_absent_since`` on the rows it did not return.

    Rows are never dropped, and ``remote_was_deleted`` is left as Merge last said it. ``scope``
    as for :func:`count_unseen`.
    """
    result = connection.execute(
        sa.update(table)
        .where(_unseen(table, linked_account_id, listing_started, scope))
        .values({ABSENT_SINCE: sa.func.now(), MIRRORED_AT: sa.func.now()})
    )
    return result.rowcount

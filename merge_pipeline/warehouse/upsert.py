"""Bulk upserts into mirror tables that never let an older version win.

One ``INSERT ... ON CONFLICT (linked_account_id, id) DO UPDATE ... WHERE`` per page: the update
applies only when the incoming ``modified_at`` is newer (or the stored row has none), or, at the
same ``modified_at``, when the content differs. Re-applied pages are therefore no-ops, and a
page fetched late (an expanded object, a retry) cannot overwrite a newer row.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from merge_pipeline.warehouse.mirror_tables import (
    LINKED_ACCOUNT_ID,
    MIRRORED_AT,
    RAW,
    RECORD_ID,
    SYNC_RUN_ID,
)

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """How one upsert went: rows inserted, rows updated, rows left alone (not newer)."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: "UpsertCounts") -> "UpsertCounts":
        return UpsertCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


@cache
def _upsert_statement(table: sa.Table) -> sa.Insert:
    statement = insert(table)
    excluded = statement.excluded
    keys = {LINKED_ACCOUNT_ID, RECORD_ID}
    updates: dict[str, Any] = {
        c.name: excluded[c.name] for c in table.columns if c.name not in keys
    }
    updates[MIRRORED_AT] = sa.func.now()
    newer = sa.or_(
        table.c.modified_at.is_(None),
        excluded.modified_at > table.c.modified_at,
        sa.and_(
            excluded.modified_at == table.c.modified_at,
            excluded[RAW] != table.c[RAW],
        ),
    )
    # xmax = 0 only for a freshly inserted tuple: the standard way to tell inserts from updates.
    inserted = sa.literal_column("xmax", sa.Text) == "0"
    return statement.on_conflict_do_update(
        index_elements=[table.c[LINKED_ACCOUNT_ID], table.c[RECORD_ID]],
        set_=updates,
        where=newer,
    ).returning(inserted.label("inserted"))


def upsert_rows(
    connection: sa.Connection, table: sa.Table, rows: Sequence[Row], sync_run_id: str | None
) -> UpsertCounts:
    """Upsert rows (already shaped as columns) of one table; returns what changed."""
    if not rows:
        return UpsertCounts()
    for row in rows:
        row[SYNC_RUN_ID] = sync_run_id
    results = connection.execute(_upsert_statement(table), list(rows)).all()
    inserted = sum(1 for r in results if r.inserted)
    return UpsertCounts(inserted, len(results) - inserted, len(rows) - len(results))


def mark_missing_as_deleted(
    connection: sa.Connection, table: sa.Table, linked_account_id: str, seen_ids: Sequence[str]
) -> int:
    """After a complete full fetch, mark deleted the rows Merge no longer returns (never drop)."""
    result = connection.execute(
        sa.update(table)
        .where(
            table.c[LINKED_ACCOUNT_ID] == linked_account_id,
            table.c.remote_was_deleted.is_(False),
            table.c[RECORD_ID].not_in(list(seen_ids)) if seen_ids else sa.true(),
        )
        .values(remote_was_deleted=True, **{MIRRORED_AT: sa.func.now()})
    )
    return result.rowcount

"""What the policy for nested models needs from PostgreSQL, and what it records there.

The per-parent listing state and the last full re-list are written in the transaction that
also stores the last page and moves the model's cursor, so they never claim a listing whose
data is not committed.
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from merge_pipeline.sync.nested_policy import ParentListing, ParentState
from merge_pipeline.warehouse.mirror_tables import (
    ABSENT_SINCE,
    LINKED_ACCOUNT_ID,
    PARENT_ID,
    RECORD_ID,
)
from merge_pipeline.warehouse.pipeline_tables import nested_full_relists, nested_parent_listings


def _deleted(parent_table: sa.Table) -> sa.ColumnElement[bool]:
    """Flagged by Merge, or absent from Merge's complete listing (its path would answer 404)."""
    return sa.or_(parent_table.c.remote_was_deleted, parent_table.c[ABSENT_SINCE].is_not(None))


def parent_states(
    connection: sa.Connection, parent_table: sa.Table, linked_account_id: str
) -> list[ParentState]:
    """Every parent the mirror holds for the account (deleted ones too), ordered by id."""
    rows = connection.execute(
        sa.select(parent_table.c[RECORD_ID], parent_table.c.modified_at, _deleted(parent_table))
        .where(parent_table.c[LINKED_ACCOUNT_ID] == linked_account_id)
        .order_by(parent_table.c[RECORD_ID])
    )
    return [ParentState(row[0], row[1], bool(row[2])) for row in rows]


def parent_listings(
    connection: sa.Connection, linked_account_id: str, model_id: str
) -> dict[str, ParentListing]:
    """When each parent's children were last listed completely, by parent id."""
    t = nested_parent_listings
    rows = connection.execute(
        sa.select(t.c.parent_id, t.c.listed_at, t.c.parent_modified_at, t.c.parent_deleted).where(
            t.c.linked_account_id == linked_account_id, t.c.model_id == model_id
        )
    )
    return {
        row.parent_id: ParentListing(row.listed_at, row.parent_modified_at, row.parent_deleted)
        for row in rows
    }


def last_full_relist(
    connection: sa.Connection, linked_account_id: str, model_id: str
) -> datetime | None:
    """When (our clock) the last sync that listed every parent began; None if none has yet."""
    t = nested_full_relists
    return connection.execute(
        sa.select(t.c.relisted_at).where(
            t.c.linked_account_id == linked_account_id, t.c.model_id == model_id
        )
    ).scalar()


def record_parent_listings(
    connection: sa.Connection,
    linked_account_id: str,
    model_id: str,
    parents: Sequence[ParentState],
    listed_at: datetime,
    sync_run_id: str | None,
) -> None:
    """Note that these parents' children were listed completely by the fetch begun at listed_at."""
    if not parents:
        return
    statement = pg.insert(nested_parent_listings).values(
        [
            {
                "linked_account_id": linked_account_id,
                "model_id": model_id,
                "parent_id": parent.parent_id,
                "listed_at": listed_at,
                "parent_modified_at": parent.modified_at,
                "parent_deleted": parent.deleted,
                "sync_run_id": sync_run_id,
            }
            for parent in parents
        ]
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["linked_account_id", "model_id", "parent_id"],
            set_={
                name: statement.excluded[name]
                for name in ("listed_at", "parent_modified_at", "parent_deleted", "sync_run_id")
            },
        )
    )


def record_full_relist(
    connection: sa.Connection,
    linked_account_id: str,
    model_id: str,
    relisted_at: datetime,
    sync_run_id: str | None,
) -> None:
    """Note a sync that listed every parent the policy allows; the next one is due from here."""
    statement = pg.insert(nested_full_relists).values(
        linked_account_id=linked_account_id,
        model_id=model_id,
        relisted_at=relisted_at,
        sync_run_id=sync_run_id,
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["linked_account_id", "model_id"],
            set_={"relisted_at": statement.excluded.relisted_at, "sync_run_id": sync_run_id},
        )
    )


def set_parent(
    connection: sa.Connection,
    table: sa.Table,
    linked_account_id: str,
    parent_id: str,
    child_ids: Sequence[str],
) -> None:
    """Record the parent children were listed under, also for rows the upsert left unchanged
    (its guard skips unchanged records, and a child may move to another parent unchanged)."""
    if not child_ids:
        return
    connection.execute(
        sa.update(table)
        .where(
            table.c[LINKED_ACCOUNT_ID] == linked_account_id,
            table.c[RECORD_ID] == sa.any_(sa.cast(sa.literal(list(child_ids)), pg.ARRAY(sa.Text))),
            table.c[PARENT_ID].is_distinct_from(parent_id),
        )
        .values({PARENT_ID: parent_id})
    )


def children_of(table: sa.Table, parent_ids: Sequence[str]) -> sa.ColumnElement[bool]:
    """Rows listed under one of these parents: the scope of a partial re-list's absence check."""
    return table.c[PARENT_ID] == sa.any_(sa.cast(sa.literal(list(parent_ids)), pg.ARRAY(sa.Text)))

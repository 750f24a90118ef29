"""Sync cursors: per (linked account, model), where the next incremental fetch starts."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from merge_pipeline.warehouse.pipeline_tables import sync_cursors


def read_cursor(
    connection: sa.Connection, linked_account_id: str, model_id: str
) -> datetime | None:
    """The stored ``modified_after`` of the next fetch; None means never synced (full fetch)."""
    return connection.execute(
        sa.select(sync_cursors.c.modified_after).where(
            sync_cursors.c.linked_account_id == linked_account_id,
            sync_cursors.c.model_id == model_id,
        )
    ).scalar()


def write_cursor(
    connection: sa.Connection,
    linked_account_id: str,
    model_id: str,
    modified_after: datetime,
    sync_run_id: str | None,
) -> None:
    """Store the cursor; call it in the transaction that writes the data it covers."""
    statement = insert(sync_cursors).values(
        linked_account_id=linked_account_id,
        model_id=model_id,
        modified_after=modified_after,
        sync_run_id=sync_run_id,
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[sync_cursors.c.linked_account_id, sync_cursors.c.model_id],
            set_={
                "modified_after": statement.excluded.modified_after,
                "sync_run_id": statement.excluded.sync_run_id,
                "updated_at": sa.func.now(),
            },
        )
    )

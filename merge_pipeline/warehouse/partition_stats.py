"""Figures about one account's rows that a materialization reports (row count, Merge's status)."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from merge_pipeline.warehouse.pipeline_tables import merge_sync_status


@dataclass(frozen=True)
class MergeModelStatus:
    """What Merge last said about its own sync of one model of one account."""

    status: str
    last_sync_start: datetime | None
    last_sync_finished: datetime | None
    #: the Merge sync the latest sensor run was requested for, and the fields it synced
    handled_sync_id: str | None = None
    synced_fields: list[str] | None = None


def partition_row_count(connection: sa.Connection, table: sa.Table, account_id: str) -> int:
    """Rows of one account in one mirror table (deleted ones included); uses the primary key."""
    query = sa.select(sa.func.count()).select_from(table)
    return int(
        connection.execute(query.where(table.c.linked_account_id == account_id)).scalar_one()
    )


def merge_model_status(
    connection: sa.Connection, account_id: str, model_id: str
) -> MergeModelStatus | None:
    """Merge's last known sync status of the model, or None if never observed."""
    row = connection.execute(
        sa.select(
            merge_sync_status.c.status,
            merge_sync_status.c.last_sync_start,
            merge_sync_status.c.last_sync_finished,
            merge_sync_status.c.handled_sync_id,
            merge_sync_status.c.synced_fields,
        ).where(
            merge_sync_status.c.linked_account_id == account_id,
            merge_sync_status.c.model_id == model_id,
        )
    ).first()
    return MergeModelStatus(*row) if row else None

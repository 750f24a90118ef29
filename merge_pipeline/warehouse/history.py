"""Sync history: one row per sync attempt, what it did and how it ended."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from merge_pipeline.warehouse.pipeline_tables import sync_runs

RUNNING, SUCCEEDED, FAILED, ABANDONED = "running", "succeeded", "failed", "abandoned"


def start_sync_run(
    connection: sa.Connection,
    *,
    sync_run_id: str,
    linked_account_id: str,
    model_id: str,
    cursor_before: datetime | None,
) -> int:
    """Record that a sync began; returns the history row id."""
    row_id: int = connection.execute(
        sa.insert(sync_runs)
        .values(
            sync_run_id=sync_run_id,
            linked_account_id=linked_account_id,
            model_id=model_id,
            status=RUNNING,
            cursor_before=cursor_before,
        )
        .returning(sync_runs.c.id)
    ).scalar_one()
    return row_id


def finish_sync_run(
    connection: sa.Connection,
    row_id: int,
    *,
    status: str,
    cursor_after: datetime | None,
    stats: dict[str, Any],
    error: str | None = None,
) -> None:
    connection.execute(
        sa.update(sync_runs)
        .where(sync_runs.c.id == row_id)
        .values(
            status=status,
            finished_at=sa.func.now(),
            cursor_after=cursor_after,
            stats=stats,
            error=error,
        )
    )


def abandon_stale_runs(connection: sa.Connection, linked_account_id: str, model_id: str) -> int:
    """Runs still 'running' while we hold the pair's lock died mid-sync (e.g. killed)."""
    result = connection.execute(
        sa.update(sync_runs)
        .where(
            sync_runs.c.linked_account_id == linked_account_id,
            sync_runs.c.model_id == model_id,
            sync_runs.c.status == RUNNING,
        )
        .values(status=ABANDONED, finished_at=sa.func.now(), error="process died mid-sync")
    )
    return result.rowcount


def last_full_listing(
    connection: sa.Connection, linked_account_id: str, model_id: str
) -> datetime | None:
    """When the pair last finished a full listing (the sweep policy's input); None = never."""
    finished: datetime | None = connection.execute(
        sa.select(sa.func.max(sync_runs.c.finished_at)).where(
            sync_runs.c.linked_account_id == linked_account_id,
            sync_runs.c.model_id == model_id,
            sync_runs.c.status == SUCCEEDED,
            sync_runs.c.stats["full_fetch"].as_boolean().is_(True),
        )
    ).scalar_one()
    return finished

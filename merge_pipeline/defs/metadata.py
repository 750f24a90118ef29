"""What the UI shows about each mirrored table (spec metadata) and each sync (materialization)."""

from typing import Any

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from merge_pipeline.catalog import CommonModel
from merge_pipeline.sync.result import SyncResult
from merge_pipeline.sync.summary import limiter_warning
from merge_pipeline.warehouse.partition_stats import MergeModelStatus
from merge_pipeline.warehouse.views import current_schema

_DIALECT = pg.dialect()


def _column_description(model: CommonModel, column: sa.Column[Any]) -> str | None:
    if column.name not in model.field_names:
        return {
            "linked_account_id": "Merge linked account (the partition key)",
            "_raw": "the record as Merge returned it (NULs replaced; see _raw_exact)",
            "_raw_exact": "the record exactly as sent, only when it held a NUL (NULL otherwise)",
            "_mirrored_at": "when merge-pipeline last wrote this row",
            "_sync_run_id": "the Dagster run (or CLI sync) that last wrote this row",
            "remote_was_deleted": "deleted in the third-party system (as Merge reports it)",
            "_absent_since": "when a complete listing first left the row out (NULL while listed)",
            "_parent_id": "the parent the row was last listed under (nested models)",
        }.get(column.name)
    field = model.field(column.name)
    if field.ref is not None:
        return f"id{'s' if field.many else ''} of {model.category}.{field.ref}"
    return field.format


def table_schema(model: CommonModel, table: sa.Table) -> dg.TableSchema:
    """The mirror table's real columns (from the same definition the warehouse creates)."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=column.name,
                type=str(column.type.compile(dialect=_DIALECT)).lower(),
                description=_column_description(model, column),
                constraints=dg.TableColumnConstraints(nullable=bool(column.nullable), unique=False),
            )
            for column in table.columns
        ]
    )


def spec_metadata(model: CommonModel, table: sa.Table) -> dict[str, Any]:
    """Table name and column schema, so each asset's page lists its table's columns."""
    return {
        # the keys Dagster's table metadata uses (its TableMetadataSet is not public in 1.13)
        "dagster/table_name": f"{table.schema}.{table.name}",
        "dagster/column_schema": table_schema(model, table),
        "merge/list_path": model.list_path,
        "dagster/storage_kind": "postgres",
    }


def materialization_metadata(
    result: SyncResult,
    *,
    table: sa.Table,
    partition_row_count: int,
    merge_status: MergeModelStatus | None,
) -> dict[str, Any]:
    """The engine's result as metadata: counts, calls, time, cursors and where the rows are."""
    account = result.linked_account_id.replace("'", "''")
    view = current_schema(table.schema or "")
    query = (  # shown to the reader, never executed: the live rows of this account
        f"SELECT * FROM {view}.{table.name}\n"  # noqa: S608
        f"WHERE linked_account_id = '{account}';"
    )
    metadata: dict[str, Any] = {
        "dagster/partition_row_count": partition_row_count,
        "dagster/table_name": f"{table.schema}.{table.name}",
        "records_received": result.records_received,
        "records_inserted": result.records_inserted,
        "records_updated": result.records_updated,
        "records_unchanged": result.records_unchanged,
        "records_deleted": result.records_deleted,
        "records_marked_absent": result.records_marked_absent,
        "records_returned": result.records_returned,
        "absence_refused": result.absence_refused,
        "records_quarantined": result.records_quarantined,
        "quarantine_pending": result.quarantine_pending,
        "cursor_cycles": result.cursor_cycles,
        "full_fetch": result.full_fetch,
        "api_calls": result.api_calls,
        "retries": result.retries,
        "rate_limited_429": result.rate_limited,
        "server_errors_5xx": result.server_errors,
        "bytes_received": result.bytes,
        "rate_limit_wait_s": dg.MetadataValue.float(round(result.rate_limit_wait_s, 3)),
        "duration_s": dg.MetadataValue.float(round(result.duration_s, 3)),
        "cursor_before": _timestamp(result.cursor_before),
        "cursor_after": _timestamp(result.cursor_after),
        "query": dg.MetadataValue.md(f"```sql\n{query}\n```"),
    }
    if result.nested_policy is not None:  # what a nested model's policy cost this time
        metadata["nested_policy"] = result.nested_policy
        metadata["full_relist"] = result.full_relist
        metadata["parents_listed"] = result.parents_listed
        metadata["parents_skipped"] = result.parents_skipped
        metadata["parents_not_found"] = result.parents_not_found
    if result.related_upserted:
        metadata["related_rows_upserted"] = dg.MetadataValue.json(result.related_upserted)
    warning = limiter_warning(result)
    if warning is not None:  # Launch-plan default on a bigger plan: say which setting to raise
        metadata["rate_limit_warning"] = warning
    if merge_status is not None:
        metadata["merge_sync_status"] = merge_status.status
        metadata["merge_last_sync_finished"] = _timestamp(merge_status.last_sync_finished)
        if merge_status.handled_sync_id is not None:  # the Merge sync a sensor ran this for
            metadata["merge_sync_id"] = merge_status.handled_sync_id
        if merge_status.synced_fields is not None:
            metadata["merge_synced_fields"] = dg.MetadataValue.json(merge_status.synced_fields)
    return metadata


def _timestamp(value: Any) -> dg.MetadataValue:
    if value is None:
        return dg.MetadataValue.text("none")
    return dg.MetadataValue.timestamp(value)

"""The sync result: what Dagster metadata and operators see."""

from dataclasses import fields
from datetime import UTC, datetime

from merge_pipeline.merge.stats import CallStats
from merge_pipeline.sync.result import SyncResult


def test_sync_result_reports_every_traffic_counter_of_the_client() -> None:
    assert set(CallStats().snapshot()) <= {f.name for f in fields(SyncResult)}


def test_result_as_dict_is_json_friendly() -> None:
    cursor = datetime(2026, 1, 1, tzinfo=UTC)
    result = SyncResult("acct", "hris.Employee", "run", False, cursor, cursor_after=cursor)
    result.records_received, result.duration_s = 50, 2.0
    data = result.as_dict()
    assert data["cursor_before"] == "2026-01-01T00:00:00+00:00"
    assert data["records_per_second"] == 25.0

"""The incremental window: previous fetch start minus overlap, on Merge's clock."""

from datetime import UTC, datetime, timedelta

from merge_pipeline.sync.window import fetch_started_at, request_modified_after

T = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def test_first_sync_is_a_full_fetch() -> None:
    assert request_modified_after(None, timedelta(seconds=60)) is None


def test_incremental_fetch_starts_overlap_before_the_cursor() -> None:
    assert request_modified_after(T, timedelta(seconds=60)) == T - timedelta(seconds=60)


def test_fetch_start_comes_from_merges_date_header_not_our_clock() -> None:
    our_clock_is_ten_minutes_ahead = T + timedelta(minutes=10)
    start = fetch_started_at(T, timedelta(milliseconds=250), our_clock_is_ten_minutes_ahead)
    assert start == T - timedelta(milliseconds=250) - timedelta(seconds=1)


def test_fetch_start_never_later_than_the_query_despite_second_resolution() -> None:
    # Merge ran the query at T+0.9s and stamped "Date: T" (truncated): the cursor must be <= T+0.9
    assert fetch_started_at(T, timedelta(0), T) <= T + timedelta(milliseconds=900)


def test_without_a_date_header_our_clock_is_used_conservatively() -> None:
    assert fetch_started_at(None, timedelta(seconds=3), T) == T - timedelta(seconds=1)

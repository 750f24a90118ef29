"""A tick's run budget: which initial syncs and which finished Merge syncs are requested first."""

from datetime import UTC, datetime, timedelta

from merge_pipeline.planning.run_budget import (
    awaiting_initial_sync,
    initial_syncs_first,
    oldest_first,
    tick_budget,
    waiting_since,
)
from merge_pipeline.planning.sync_requests import PendingSync, plan_runs

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_only_unsynced_partitions_with_a_token_and_no_hold_await_an_initial_sync() -> None:
    awaiting = awaiting_initial_sync(
        ["held", "synced", "no-token", "b-new", "a-new"],
        stored={"held", "synced", "b-new", "a-new"},
        held={"held"},
        with_runs={"synced", "ran-but-no-partition"},
    )
    assert awaiting == ["a-new", "b-new"]


def test_initial_syncs_take_each_category_in_turn_up_to_the_budget() -> None:
    awaiting = {"hris": ["h1", "h2", "h3", "h4"], "ats": ["a1"], "crm": ["c1", "c2"]}
    assert initial_syncs_first(awaiting, 5) == [
        ("hris", "h1"), ("ats", "a1"), ("crm", "c1"), ("hris", "h2"), ("crm", "c2")
    ]  # fmt: skip
    assert len(initial_syncs_first(awaiting, 100)) == 7
    assert initial_syncs_first(awaiting, 0) == [] and initial_syncs_first({}, 5) == []


def test_the_run_whose_oldest_sync_waited_longest_comes_first() -> None:
    syncs = [
        PendingSync("young", "hris", "hris.Employee", "s1", T0 + timedelta(minutes=5)),
        PendingSync("old", "hris", "hris.Team", "s2", T0 + timedelta(minutes=9)),
        PendingSync("old", "hris", "hris.Employee", "s3", T0),
        PendingSync("unknown", "hris", "hris.Team", "s4"),
        PendingSync("middle", "hris", "hris.Team", "s5", T0 + timedelta(minutes=1)),
    ]
    runs = oldest_first(plan_runs(syncs, {}, "webhook"))
    assert [run.account_id for run in runs] == ["old", "middle", "young", "unknown"]
    assert waiting_since(runs[0]) == T0 and waiting_since(runs[-1]) is None


def test_a_tick_requests_its_share_or_what_the_queue_has_room_for() -> None:
    assert tick_budget(25, 100, 0) == 25 and tick_budget(25, 100, 90) == 10
    assert tick_budget(25, 100, 100) == 0 and tick_budget(25, 100, 130) == 0
    assert tick_budget(25, 0, 5_000) == 25  # no queue limit

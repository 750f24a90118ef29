"""Which parents a nested model's sync lists: every parent, or changed ones plus a periodic sweep.

The tables below are the policy's specification: each row names the situation and the answer.
"""

from datetime import UTC, datetime, timedelta

import pytest

from merge_pipeline.sync.nested_policy import (
    NestedPolicy,
    ParentListing,
    ParentState,
    child_modified_after,
    full_relist_due,
    plan_parents,
    should_list,
)

T = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
EVERY = NestedPolicy.EVERY_PARENT
CHANGED = NestedPolicy.CHANGED_PARENTS

LIVE = ParentState("job_1", T, deleted=False)
LISTED_AS_IS = ParentListing(
    listed_at=T + timedelta(hours=1), parent_modified_at=T, parent_deleted=False
)
LISTED_BEFORE_CHANGE = ParentListing(
    T, parent_modified_at=T - timedelta(days=1), parent_deleted=False
)
LISTED_BEFORE_DELETION = LISTED_AS_IS
LISTED_AFTER_DELETION = ParentListing(T + timedelta(hours=1), T, parent_deleted=True)
DELETED = ParentState("job_1", T, deleted=True)


@pytest.mark.parametrize(
    ("case", "policy", "last_full", "now", "forced", "due"),
    [
        ("every-parent always lists all", EVERY, T, T + timedelta(minutes=1), False, True),
        ("never fully listed yet", CHANGED, None, T, False, True),
        ("interval not yet over", CHANGED, T, T + WEEK - timedelta(seconds=1), False, False),
        ("interval just over", CHANGED, T, T + WEEK, False, True),
        ("forced by --full", CHANGED, T, T + timedelta(minutes=1), True, True),
    ],
)
def test_full_relist_is_due_when_the_policy_or_the_interval_says_so(
    case: str,
    policy: NestedPolicy,
    last_full: datetime | None,
    now: datetime,
    forced: bool,
    due: bool,
) -> None:
    assert full_relist_due(policy, last_full, now, WEEK, forced=forced) is due, case


@pytest.mark.parametrize(
    ("case", "parent", "listing", "full", "listed"),
    [
        ("new parent, not a full re-list", LIVE, None, False, True),
        ("unchanged since listed", LIVE, LISTED_AS_IS, False, False),
        ("unchanged, but a full re-list", LIVE, LISTED_AS_IS, True, True),
        ("modified since listed", LIVE, LISTED_BEFORE_CHANGE, False, True),
        ("deleted since listed", DELETED, LISTED_BEFORE_DELETION, False, True),
        ("deleted and never listed", DELETED, None, False, True),
        ("deleted, listed after the deletion", DELETED, LISTED_AFTER_DELETION, False, False),
        ("deleted, listed after, full re-list", DELETED, LISTED_AFTER_DELETION, True, False),
        (
            "deletion seen without a modified_at bump",
            ParentState("job_1", T, deleted=True),
            ParentListing(T, T, parent_deleted=False),
            False,
            True,
        ),
    ],
)
def test_a_parent_is_listed_when_new_changed_or_swept_and_a_deleted_one_once_more(
    case: str,
    parent: ParentState,
    listing: ParentListing | None,
    full: bool,
    listed: bool,
) -> None:
    assert should_list(parent, listing, full) is listed, case


def test_changed_parents_lists_only_new_and_changed_parents_between_full_relists() -> None:
    parents = [
        ParentState("unchanged", T, deleted=False),
        ParentState("changed", T + timedelta(hours=2), deleted=False),
        ParentState("new", T, deleted=False),
    ]
    listings = {
        "unchanged": ParentListing(T + timedelta(hours=1), T, parent_deleted=False),
        "changed": ParentListing(T + timedelta(hours=1), T, parent_deleted=False),
    }
    plan = plan_parents(CHANGED, parents, listings, last_full_relist=T, now=T + timedelta(days=1))
    assert ([p.parent_id for p in plan.to_list], plan.skipped, plan.full_relist) == (
        ["changed", "new"],
        1,
        False,
    )


def test_every_parent_lists_every_live_parent_each_time() -> None:
    parents = [ParentState(f"job_{i}", T, deleted=False) for i in range(3)]
    listings = {p.parent_id: LISTED_AS_IS for p in parents}
    plan = plan_parents(EVERY, parents, listings, last_full_relist=T, now=T)
    assert (len(plan.to_list), plan.skipped, plan.full_relist) == (3, 0, True)


@pytest.mark.parametrize(
    ("case", "listing", "full", "expected"),
    [
        ("never listed: read in full", None, False, None),
        (
            "listed: its own window",
            LISTED_AS_IS,
            False,
            LISTED_AS_IS.listed_at - timedelta(seconds=60),
        ),
        ("forced full: read in full", LISTED_AS_IS, True, None),
    ],
)
def test_each_parent_of_an_incremental_nested_model_has_its_own_window(
    case: str, listing: ParentListing | None, full: bool, expected: datetime | None
) -> None:
    assert child_modified_after(listing, timedelta(seconds=60), full=full) == expected, case

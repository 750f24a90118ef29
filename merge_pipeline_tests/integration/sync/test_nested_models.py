"""Nested models end to end: no child lost, children of deleted parents left as Merge lists
them, and the parent policy (every-parent / changed-parents) listing what it promises."""

from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from merge_pipeline.sync.nested_policy import NestedPolicy
from merge_pipeline.warehouse.cursors import read_cursor
from merge_pipeline.warehouse.mirror_tables import PARENT_ID, mirror_tables
from merge_pipeline_tests.integration.sync.conftest import Harness, only_complete_listings
from merge_sandbox.admin import AccountInfo

CLASS = "crm.CustomObjectClass"
CUSTOM_OBJECT = "crm.CustomObject"
JOB = "ats.Job"
QUESTION = "ats.ScreeningQuestion"
OUTSIDE_OVERLAP_S = 120  # virtual seconds: past the 60 s cursor overlap
CHANGED = NestedPolicy.CHANGED_PARENTS


def _parent_with_children(harness: Harness, account: AccountInfo) -> str:
    """The id of a job that has screening questions in the mirror."""
    table = mirror_tables()[QUESTION]
    with harness.engine.connect() as connection:
        parents = connection.execute(
            sa.select(table.c[PARENT_ID]).where(table.c.linked_account_id == account.id)
        ).scalars()
        [(job_id, _)] = Counter(parents).most_common(1)
    return str(job_id)


def _live_jobs(harness: Harness, account: AccountInfo) -> int:
    return sum(not deleted for _, deleted in harness.mirror(account.id, JOB).values())


def test_children_created_before_their_parent_is_mirrored_are_not_lost(harness: Harness) -> None:
    """The child model syncs while its new parent is not in the mirror yet (the parent's sync
    failed, or ran before Merge created it, or the child was synced alone), and its cursor moves
    past the child: the parent's first listing must still read all of its children."""
    account = harness.account("crm", records=300)
    harness.sync(account, CLASS)
    harness.sync(account, CUSTOM_OBJECT)
    harness.admin.set_adversity(late_parents=True)
    harness.admin.mutate(account.id, CUSTOM_OBJECT, creates=3)
    harness.admin.advance_clock(OUTSIDE_OVERLAP_S)
    harness.sync(account, CUSTOM_OBJECT)  # the new classes are not mirrored yet
    harness.sync(account, CLASS)
    harness.sync(account, CUSTOM_OBJECT)
    harness.assert_mirror_matches(account.id, CUSTOM_OBJECT)


def test_nested_sync_that_asks_merge_nothing_leaves_the_cursor_alone(harness: Harness) -> None:
    """No parent to list means no response, so no Merge clock: the cursor must not be taken
    from ours."""
    account = harness.account("crm", records=300)
    result = harness.sync(account, CUSTOM_OBJECT)  # no class mirrored yet
    with harness.engine.connect() as connection:
        cursor = read_cursor(connection, account.id, CUSTOM_OBJECT)
    assert (result.api_calls, cursor) == (0, None)


def test_children_of_a_deleted_parent_stay_as_merge_lists_them(harness: Harness) -> None:
    account = harness.account("ats", records=400)
    harness.sync(account, JOB)
    harness.sync(account, QUESTION)
    harness.admin.delete_records(account.id, JOB, [_parent_with_children(harness, account)])
    harness.sync(account, JOB)
    result = harness.sync(account, QUESTION)
    assert result.records_marked_absent == 0
    harness.assert_mirror_matches(account.id, QUESTION)


def test_changed_parents_sync_with_nothing_changed_lists_no_parent(harness: Harness) -> None:
    account = harness.account("ats", records=400)
    harness.sync(account, JOB)
    first = harness.sync(account, QUESTION, nested_policy=CHANGED)
    second = harness.sync(account, QUESTION, nested_policy=CHANGED)
    jobs = _live_jobs(harness, account)
    assert (first.full_relist, first.parents_listed) == (True, jobs)
    assert (second.full_relist, second.parents_listed, second.parents_skipped) == (False, 0, jobs)
    assert (second.api_calls, second.records_marked_absent) == (0, 0)
    harness.assert_mirror_matches(account.id, QUESTION)


@only_complete_listings
def test_changed_parents_relists_only_the_changed_parent(harness: Harness) -> None:
    account = harness.account("ats", records=400)
    harness.sync(account, JOB)
    harness.sync(account, QUESTION, nested_policy=CHANGED)
    harness.admin.update_records(account.id, JOB, [_parent_with_children(harness, account)])
    harness.sync(account, JOB)
    result = harness.sync(account, QUESTION, nested_policy=CHANGED)
    assert (result.parents_listed, result.api_calls, result.records_marked_absent) == (1, 1, 0)
    harness.assert_mirror_matches(account.id, QUESTION)


@only_complete_listings
def test_child_added_under_an_unchanged_parent_arrives_with_the_next_full_relist(
    harness: Harness,
) -> None:
    """Merge may not bump a parent when a child changes: between full re-lists such a child is
    not seen (the documented bound), and the full re-list brings the mirror level."""
    account = harness.account("ats", records=400)
    harness.sync(account, JOB)
    harness.sync(account, QUESTION, nested_policy=CHANGED)
    harness.admin.set_adversity(late_parents=False)  # the new children go under existing jobs
    created = harness.admin.mutate(account.id, QUESTION, creates=2)["created"][QUESTION]
    harness.sync(account, JOB)
    harness.sync(account, QUESTION, nested_policy=CHANGED)
    stale = set(created) - set(harness.mirror(account.id, QUESTION))
    result = harness.sync(
        account, QUESTION, nested_policy=CHANGED, nested_full_relist_every=timedelta(0)
    )
    assert (stale, result.full_relist) == (set(created), True)
    harness.assert_mirror_matches(account.id, QUESTION)


def test_parent_merge_no_longer_knows_is_skipped_without_failing_the_sync(
    harness: Harness,
) -> None:
    account = harness.account("ats", records=400)
    harness.sync(account, JOB)
    jobs = mirror_tables()[JOB]
    with harness.engine.begin() as connection:
        connection.execute(
            sa.insert(jobs).values(linked_account_id=account.id, id="job-gone", _raw={})
        )
    result = harness.sync(account, QUESTION)
    assert result.parents_not_found == 1
    harness.assert_mirror_matches(account.id, QUESTION)


def test_only_children_of_parents_listed_can_be_marked_absent(harness: Harness) -> None:
    """Two rows Merge no longer lists, one under a parent this sync lists and one under a parent
    it skips: only the first is marked absent."""
    account = harness.account("ats", records=400)
    harness.sync(account, JOB)
    harness.sync(account, QUESTION, nested_policy=CHANGED)
    changed_job = _parent_with_children(harness, account)
    skipped_job = next(job for job in harness.mirror(account.id, JOB) if job != changed_job)
    questions = mirror_tables()[QUESTION]
    with harness.engine.begin() as connection:
        for gone, parent in (("gone-listed", changed_job), ("gone-skipped", skipped_job)):
            connection.execute(
                sa.insert(questions).values(
                    linked_account_id=account.id, id=gone, _raw={}, **{PARENT_ID: parent}
                )
            )
    harness.admin.update_records(account.id, JOB, [changed_job])
    harness.sync(account, JOB)
    result = harness.sync(account, QUESTION, nested_policy=CHANGED)
    assert (result.parents_listed, result.records_marked_absent) == (1, 1)


@only_complete_listings
def test_confirmation_listing_relists_only_the_parent_with_a_child_left_out(
    harness: Harness,
) -> None:
    """A full listing of a nested model lists every parent; confirming that a child is gone
    must not list them all again, only the parent the child was listed under."""
    account = harness.account("ats", records=400)
    harness.sync(account, JOB)
    harness.sync(account, QUESTION)
    baseline = harness.sync(account, QUESTION)  # nothing left out: no confirmation
    questions = mirror_tables()[QUESTION]
    with harness.engine.begin() as connection:
        connection.execute(
            sa.insert(questions).values(
                linked_account_id=account.id,
                id="question-gone",
                _raw={},
                **{PARENT_ID: _parent_with_children(harness, account)},
            )
        )
    result = harness.sync(account, QUESTION)
    assert (
        result.confirmation_listings,
        result.records_marked_absent,
        result.api_calls - baseline.api_calls,
    ) == (1, 1, 1)
    harness.assert_mirror_matches(account.id, QUESTION)


def test_deleted_parent_that_answers_404_is_not_asked_again(harness: Harness) -> None:
    account = harness.account("ats", records=400)
    harness.sync(account, JOB)
    jobs = mirror_tables()[JOB]
    with harness.engine.begin() as connection:
        connection.execute(
            sa.insert(jobs).values(
                linked_account_id=account.id, id="job-gone", remote_was_deleted=True, _raw={}
            )
        )
    first = harness.sync(account, QUESTION)
    second = harness.sync(account, QUESTION)
    assert (first.parents_not_found, second.parents_not_found) == (1, 0)

"""The ``late_parents`` switch: a new child's parent is created after it, and is served."""

from collections.abc import Iterator

import pytest

from merge_pipeline_tests.sandbox.helpers import account_of, client, fetch_all, key
from merge_sandbox.adversity import Adversity
from merge_sandbox.testing import RunningSandbox, running_sandbox

pytestmark = pytest.mark.integration


@pytest.fixture
def late() -> Iterator[RunningSandbox]:
    with running_sandbox(
        accounts=1, records=300, seed=5, categories=["ats"], adversity=Adversity(late_parents=True)
    ) as sb:
        yield sb


def test_new_child_gets_a_parent_created_after_it_that_lists_only_that_child(
    late: RunningSandbox,
) -> None:
    account = account_of(late, "ats")
    changes = late.admin.mutate(account.id, "ats.ScreeningQuestion", creates=1)
    [child_id] = changes["created"]["ats.ScreeningQuestion"]
    [job_id] = changes["created"]["ats.Job"]
    with client(late, account) as api:
        job = api.get(f"/ats/v1/jobs/{job_id}").json()
        children = fetch_all(api, f"/ats/v1/jobs/{job_id}/screening-questions")
    [child] = children
    assert (key(child), child["job"], child["modified_at"] < job["modified_at"]) == (
        child_id,
        job_id,
        True,
    )


def test_without_the_switch_children_go_under_existing_parents() -> None:
    with running_sandbox(accounts=1, records=300, categories=["ats"], adversity=Adversity()) as sb:
        account = account_of(sb, "ats")
        changes = sb.admin.mutate(account.id, "ats.ScreeningQuestion", creates=3)
    assert "ats.Job" not in changes["created"]
